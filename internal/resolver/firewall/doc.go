// Package firewall holds the response methods that act on a network: the
// kind nftables blocks addresses and ranges in a table of Vigil's own
// (interval sets with element timeouts, IPv4 and IPv6, on the input and
// forward hooks) and ends the blocked addresses' tracked connections; the
// kind tcp-kill ends one TCP connection held by the host, as `ss -K`
// does. Both act in the monitor's network namespace or in one their
// settings name, and talk to the kernel over netlink only.
package firewall
