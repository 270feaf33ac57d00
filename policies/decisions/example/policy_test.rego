package cordon_test

import rego.v1

invoker := {"id": "k1", "name": "ada", "kind": "key", "roles": ["invoker"]}

admin := {"id": "k2", "name": "root", "kind": "key", "roles": ["admin"]}

monday_10 := {"hour": 10, "weekday": "Mon", "address": "10.0.0.7"}

sunday_10 := {"hour": 10, "weekday": "Sun", "address": "10.0.0.7"}

call(caller, tool, request) := {
	"action": "invoke",
	"caller": caller,
	"tool": tool,
	"arguments": {},
	"request": request,
}

test_an_invoker_calls_a_read_only_tool_any_day if {
	data.cordon.allow with input as call(invoker, {"name": "echo", "read_only": true}, sunday_10)
}

test_an_invoker_calls_a_writing_tool_on_a_weekday if {
	data.cordon.allow with input as call(invoker, {"name": "notes", "read_only": false}, monday_10)
}

test_not_a_writing_tool_on_sunday if {
	not data.cordon.allow with input as call(invoker, {"name": "notes", "read_only": false}, sunday_10)
}

test_etc_is_denied_with_its_reason if {
	reasons := data.cordon.deny with input as object.union(
		call(admin, {"name": "read_file", "read_only": true}, monday_10),
		{"arguments": {"paths": ["/etc/shadow"]}},
	)
	reasons == {"read_file may not read or write under /etc"}
}

test_a_tool_that_says_it_destroys_waits_for_an_admin if {
	tool := {"name": "wipe", "read_only": false, "annotations": {"destructiveHint": true}}
	a := data.cordon.approval with input as call(invoker, tool, monday_10)
	a.timeout_secs == 900
}

test_deleting_waits_for_an_admin if {
	a := data.cordon.approval with input as call(invoker, {"name": "delete_files", "read_only": false}, monday_10)
	a.approvers == ["role:admin"]
}

test_an_invoker_sees_a_read_only_tool_listed if {
	data.cordon.allow with input as object.union(
		call(invoker, {"name": "echo", "read_only": true}, sunday_10),
		{"action": "list"},
	)
}

publisher := {"id": "k3", "name": "ci", "kind": "key", "roles": ["publisher"]}

test_a_publisher_publishes_a_tool_that_reaches_no_network if {
	data.cordon.allow with input as {"action": "publish", "caller": publisher, "tool": {"name": "echo", "open_world": false}}
}

test_but_not_one_that_does if {
	not data.cordon.allow with input as {"action": "publish", "caller": publisher, "tool": {"name": "fetch", "open_world": true}}
}

test_a_key_without_an_expiry_is_refused if {
	reasons := data.cordon.deny with input as {"action": "key_change", "caller": admin, "arguments": {"operation": "create", "name": "ci", "role": "publisher"}}
	count(reasons) == 1
}

test_a_key_for_30_days_is_made if {
	data.cordon.allow with input as {"action": "key_change", "caller": admin, "arguments": {"operation": "create", "name": "ci", "role": "publisher", "expires_in_secs": 2592000}}
	count(data.cordon.deny) == 0 with input as {"action": "key_change", "caller": admin, "arguments": {"operation": "create", "name": "ci", "role": "publisher", "expires_in_secs": 2592000}}
}
