// Command kvctl is the command-line client of raftkv, in the style of
// etcdctl: one subcommand per file, global flags for the endpoints, the
// timeouts and the output format, and exit codes that scripts can rely on
// (see exitcode.go and `kvctl --help`).
//
//	kvctl put greeting hello
//	kvctl get greeting
//	kvctl get greeting --consistency stale
//	kvctl get greeting --max-staleness 2s
//	kvctl get --prefix users/ --limit 10 -w table
//	kvctl del greeting
//	kvctl put lock/owner me --mod-index 0
//	kvctl cas counter 41 42
//	kvctl member list
//	kvctl cluster status
//	kvctl completion bash
//
// kvctl imports only the client package (never the server packages): it is
// an ordinary user of the public Go client.
package main
