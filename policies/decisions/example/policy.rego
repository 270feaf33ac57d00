# An example decision bundle (docs/decisions.md), after the OPA tool-access policy of the
# MetaMCP guide: admins may call any tool; invokers may call tools that change nothing outside
# their sandbox, and tools that do during working hours only. No caller may point a tool at
# /etc. A tool that destroys (it says so, or its name does) waits for an admin's approval.
#
# It decides the operators' changes too: admins publish, change policies and make keys;
# publishers publish tools that reach no network (opening it is a policy change, an admin's);
# a new API key expires within 90 days.
package cordon

import rego.v1

default allow := false

# A call, and a listing asking whether to show the tool to the caller.
calls := {"invoke", "list"}

allow if {
	input.action in calls
	"admin" in input.caller.roles
}

allow if {
	input.action in calls
	"invoker" in input.caller.roles
	input.tool.read_only
}

allow if {
	input.action in calls
	"invoker" in input.caller.roles
	not input.tool.read_only
	working_hours
}

working_hours if {
	input.request.hour >= 8
	input.request.hour < 19
	not input.request.weekday in {"Sat", "Sun"}
}

deny contains sprintf("%s may not read or write under /etc", [input.tool.name]) if {
	input.action == "invoke"
	some path in object.get(input.arguments, "paths", [])
	startswith(path, "/etc")
}

approval := {"approvers": ["role:admin"], "timeout_secs": 900} if {
	input.action == "invoke"
	destructive
	not "admin" in input.caller.roles
}

# The tool's own annotation (its author's claim: enough to ask for a look, never to trust it),
# or its name.
destructive if input.tool.annotations.destructiveHint

destructive if contains(input.tool.name, "delete")

allow if {
	input.action in {"publish", "policy_change", "key_change"}
	"admin" in input.caller.roles
}

allow if {
	input.action == "publish"
	"publisher" in input.caller.roles
	not input.tool.open_world
}

deny contains "an API key expires within 90 days: give expires_in_secs up to 7776000" if {
	input.action == "key_change"
	input.arguments.operation == "create"
	not expires_within_90_days
}

expires_within_90_days if {
	is_number(input.arguments.expires_in_secs)
	input.arguments.expires_in_secs <= 7776000
}
