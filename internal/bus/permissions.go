package bus

import (
	"fmt"
	"strings"

	"github.com/vigil-ids/vigil/internal/pki"
)

// Permissions are what one identity may do on the bus: the subjects it may
// publish to and subscribe to (nothing else), and whether it may answer
// the requests it receives (NATS allow_responses: one reply each, within
// ResponseWindow).
type Permissions struct {
	Publish, Subscribe []string
	AllowResponses     bool
}

// A MonitorScope narrows what a monitor's certificate allows: the monitors
// it may send configuration requests and probes to (its children), those
// it may send configuration requests to as a peer (its peers), and the
// hosts whose effectors and agents it may ask (the hosts it owns). No
// children and no peers: it sends configuration requests to none but
// itself. No hosts: it owns every host (a bus with one monitor).
type MonitorScope struct {
	Children []string
	Peers    []string
	Hosts    []string
}

// Placeholders in the permission table, replaced by subject tokens.
const (
	phName  = "<name>"  // the certificate's name (CN): its host, sensor id or monitor name
	phInbox = "<inbox>" // CertInboxPrefix of the certificate
	phHost  = "<host>"  // each host the monitor owns; "*" when its scope lists none
	phChild = "<child>" // each child of the monitor; nothing when its scope lists none
	phPeer  = "<peer>"  // each peer of the monitor; nothing when its scope lists none
)

// permissionRow is one role's line of the table.
type permissionRow struct {
	role               pki.Role
	publish, subscribe []string
	allowResponses     bool
	what               string
}

// permissionTable is the one source of what each certificate role may do
// on the bus: PermissionsFor applies it, PermissionsMarkdown prints it for
// docs/BUS.md.
var permissionTable = []permissionRow{
	{
		role:           pki.RoleAgent,
		publish:        []string{PrefixObs + phName, PrefixLive + phName, PrefixCV + phName, PrefixHeartbeat + phName},
		subscribe:      []string{phInbox + ".>", PrefixEffect + phName, PrefixAgentCtl + phName},
		allowResponses: true,
		what:           "a host agent: its own host's observations, count vectors and heartbeats; takes and answers its own effector and configuration requests",
	},
	{
		role:           pki.RoleNetsensor,
		publish:        []string{PrefixObs + phName, PrefixLive + phName, PrefixHeartbeat + phName},
		subscribe:      []string{phInbox + ".>", PrefixAgentCtl + phName},
		allowResponses: true,
		what:           "a network sensor (named by its id): its own observations and heartbeats; takes and answers its own configuration requests",
	},
	{
		role: pki.RoleMonitor,
		publish: []string{
			"$JS.API.>", "$JS.*.API.>", "$JS.ACK.>", "$JS.FC.>",
			PrefixReport + phName, PrefixHeartbeat + phName,
			PrefixEffect + phHost, PrefixAgentCtl + phHost,
			PrefixCtl + phName + "." + phName, PrefixCtl + phChild + "." + phName, PrefixCtl + phPeer + "." + phName,
			PrefixProbe + phChild + "." + phName,
		},
		subscribe: []string{
			phInbox + ".>", PrefixCtl + phName + ".*", PrefixProbe + phName + ".*",
			PrefixObs + ">", PrefixLive + ">", PrefixCV + ">", PrefixReport + ">", PrefixHeartbeat + ">",
		},
		allowResponses: true,
		what:           "a monitor: the streams (JetStream API, its own domain's and, across leaf nodes, its children's), its own reports and heartbeats, requests to the effectors and agents of the hosts it owns, configuration requests as itself to itself, its children and its peers, probes as itself to its children; answers the configuration requests and probes sent to it",
	},
	{
		role:      pki.RoleOperator,
		subscribe: []string{phInbox + ".>", PrefixReport + ">", PrefixObs + ">", PrefixLive + ">", PrefixHeartbeat + ">"},
		what:      "an operator: reads reports, observations and heartbeats as they pass (core subscriptions); publishes nothing",
	},
}

// certInboxRoot is the inbox space of certificate identities; a password
// identity of that name is refused while certificates are mapped.
const certInboxRoot = "x509"

// CertInboxPrefix is the prefix of the reply subjects of a connection
// made with a certificate of role for name. The role is part of it, so an
// agent and a monitor with the same name do not share replies.
func CertInboxPrefix(role pki.Role, name string) string {
	return "_INBOX." + certInboxRoot + "." + string(role) + "." + Token(name)
}

// CertUser is the user name a certificate of role for name has on the
// embedded server (in its logs and monitoring).
func CertUser(role pki.Role, name string) string { return string(role) + ":" + name }

// PermissionsFor returns what a certificate of role for name may do;
// scopes holds the monitors' scopes by monitor name (only a monitor's
// certificate uses it). Names become subject tokens (Token).
func PermissionsFor(role pki.Role, name string, scopes map[string]MonitorScope) (Permissions, error) {
	if name == "" {
		return Permissions{}, fmt.Errorf("bus permissions: a %s certificate without a name", role)
	}
	for _, row := range permissionTable {
		if row.role != role {
			continue
		}
		scope := scopes[name]
		p := Permissions{AllowResponses: row.allowResponses}
		p.Publish = expand(row.publish, role, name, scope)
		p.Subscribe = expand(row.subscribe, role, name, scope)
		return p, nil
	}
	return Permissions{}, fmt.Errorf("bus permissions: role %q has no permissions", role)
}

func expand(subjects []string, role pki.Role, name string, scope MonitorScope) []string {
	var out []string
	for _, s := range subjects {
		s = strings.ReplaceAll(s, phInbox, CertInboxPrefix(role, name))
		s = strings.ReplaceAll(s, phName, Token(name))
		switch {
		case strings.Contains(s, phHost):
			if len(scope.Hosts) == 0 {
				out = append(out, strings.ReplaceAll(s, phHost, "*"))
			}
			for _, h := range scope.Hosts {
				out = append(out, strings.ReplaceAll(s, phHost, Token(h)))
			}
		case strings.Contains(s, phChild):
			for _, c := range scope.Children {
				out = append(out, strings.ReplaceAll(s, phChild, Token(c)))
			}
		case strings.Contains(s, phPeer):
			for _, p := range scope.Peers {
				out = append(out, strings.ReplaceAll(s, phPeer, Token(p)))
			}
		default:
			out = append(out, s)
		}
	}
	return out
}

// PermissionsMarkdown is the permission table as docs/BUS.md shows it.
func PermissionsMarkdown() string {
	var b strings.Builder
	b.WriteString("| role (OU) | publish | subscribe | answers requests |\n|---|---|---|---|\n")
	code := func(ss []string) string {
		if len(ss) == 0 {
			return "nothing"
		}
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = "`" + s + "`"
		}
		return strings.Join(q, ", ")
	}
	for _, r := range permissionTable {
		ans := "no"
		if r.allowResponses {
			ans = "yes"
		}
		fmt.Fprintf(&b, "| `%s`: %s | %s | %s | %s |\n", r.role, r.what, code(r.publish), code(r.subscribe), ans)
	}
	return b.String()
}
