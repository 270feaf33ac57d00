# An example decision bundle (docs/decisions.md), after the OPA tool-access policy of the
# MetaMCP guide: admins may call any tool; invokers may call tools that change nothing outside
# their sandbox, and tools that do during working hours only. No caller may point a tool at
# /etc. A tool that deletes (its name says so) waits for an admin's approval.
package cordon

import rego.v1

default allow := false

allow if {
	input.action == "invoke"
	"admin" in input.caller.roles
}

allow if {
	input.action == "invoke"
	"invoker" in input.caller.roles
	input.tool.read_only
}

allow if {
	input.action == "invoke"
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
	some path in object.get(input.arguments, "paths", [])
	startswith(path, "/etc")
}

approval := {"approvers": ["role:admin"], "timeout_secs": 900} if {
	contains(input.tool.name, "delete")
	not "admin" in input.caller.roles
}
