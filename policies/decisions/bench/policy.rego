# The bundle the benchmarks decide with: about twenty rules of the kinds an organization writes
# (roles, named callers, tool sets, hours and weekdays, client networks, arguments, tokens'
# claims), so that a call's decision costs what a real one does.
package cordon

import rego.v1

default allow := false

admins := {"admin"}

read_tools := {"echo", "word-count", "search", "fetch"}

write_tools := {"notes", "tickets"}

blocked_callers := {"mallory", "eve"}

internal_networks := ["127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16"]

allow if {
	some role in input.caller.roles
	role in admins
}

allow if {
	input.action in {"invoke", "list"}
	"invoker" in input.caller.roles
	input.tool.name in read_tools
}

allow if {
	input.action == "invoke"
	"invoker" in input.caller.roles
	input.tool.name in write_tools
	working_hours
}

working_hours if {
	input.request.hour >= 7
	input.request.hour < 20
	not input.request.weekday in {"Sat", "Sun"}
}

from_inside if {
	some cidr in internal_networks
	net.cidr_contains(cidr, input.request.address)
}

deny contains "calls come from the internal networks only" if not from_inside

deny contains sprintf("%s is blocked", [input.caller.name]) if input.caller.name in blocked_callers

deny contains "no paths under /etc" if {
	some path in object.get(input.arguments, "paths", [])
	startswith(path, "/etc")
}

deny contains "the input mentions a password" if {
	contains(lower(object.get(input.arguments, "text", "")), "password:")
}

deny contains "tools that write take no URLs" if {
	input.tool.name in write_tools
	contains(object.get(input.arguments, "text", ""), "://")
}

deny contains "tokens of another tenant" if {
	input.caller.kind == "token"
	input.caller.claims.tenant != "acme"
}

approval := {"approvers": ["role:admin"], "timeout_secs": 900} if {
	input.tool.name == "tickets"
	not "admin" in input.caller.roles
	object.get(input.arguments, "priority", "low") == "urgent"
}
