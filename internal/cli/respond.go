package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
)

func respondCmd(e *env) *cobra.Command {
	var base string
	cmd := &cobra.Command{
		Use:   "respond",
		Short: "List, show and undo the resolver's decisions (through a running monitor's API)",
		Long:  help("respond"),
	}
	cmd.PersistentFlags().StringVar(&base, "url", "http://"+config.DefaultHTTPListen, "the monitor's HTTP address")
	var user string
	cmd.PersistentFlags().StringVar(&user, "user", os.Getenv("VIGIL_USER"), "account to log in as where the API needs a login (password: $VIGIL_PASSWORD, else asked on the terminal or read from stdin)")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Timeout: 30 * time.Second, Jar: jar}
	// csrf is the session's token once logged in.
	var csrf string
	login := func(cmd *cobra.Command) error {
		if user == "" || csrf != "" {
			return nil
		}
		pw := []byte(os.Getenv("VIGIL_PASSWORD"))
		if len(pw) == 0 {
			var err error
			if pw, err = readPassword(cmd.InOrStdin(), e.stderr, user, false); err != nil {
				return err
			}
		}
		b, _ := json.Marshal(map[string]string{"user": user, "password": string(pw)})
		clear(pw)
		req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(base, "/")+"/api/login", bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("--url %q: %w", base, err)
		}
		req.Header.Set("Content-Type", "application/json")
		var ans struct {
			CSRFToken string `json:"csrf_token"`
		}
		if err := doJSON(client, req, &ans); err != nil {
			return fmt.Errorf("logging in as %s: %w", user, err)
		}
		csrf = ans.CSRFToken
		return nil
	}
	// send logs in when --user is given, and sends req with the session's
	// CSRF token.
	send := func(cmd *cobra.Command, req *http.Request, out any) error {
		if err := login(cmd); err != nil {
			return err
		}
		if req.Method != http.MethodGet {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		err := doJSON(client, req, out)
		if err != nil && user == "" && strings.Contains(err.Error(), "login required") {
			return fmt.Errorf("%w (pass --user NAME; the password from $VIGIL_PASSWORD, the terminal or stdin)", err)
		}
		return err
	}
	get := func(cmd *cobra.Command, path string, out any) error {
		req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, strings.TrimRight(base, "/")+path, nil)
		if err != nil {
			return fmt.Errorf("--url %q: %w", base, err)
		}
		return send(cmd, req, out)
	}

	var status, policy string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List decisions, newest first",
		Long: "List the resolver's decisions, newest first: time, id, status, policy, method and key,\n" +
			"and the reason (escaped: report text is not trusted). --json prints the API's JSON.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if policy != "" {
				q.Set("policy", policy)
			}
			q.Set("limit", strconv.Itoa(limit))
			var rows []map[string]any
			if err := get(cmd, "/api/responses?"+q.Encode(), &rows); err != nil {
				return fail(err)
			}
			if asJSON {
				return failed(writeIndented(e.stdout, rows))
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tID\tSTATUS\tPOLICY\tMETHOD\tKEY\tREASON")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", text(r["time"]), text(r["id"]), text(r["status"]), text(r["policy"]),
					text(r["method"]), text(r["key"]), text(r["reason"]))
			}
			return failed(tw.Flush())
		},
	}
	list.Flags().StringVar(&status, "status", "", "only these statuses (planned, dry-run, done, failed, suppressed, refused, expired, undone; comma-separated)")
	list.Flags().StringVar(&policy, "policy", "", "only this policy's decisions")
	list.Flags().IntVar(&limit, "limit", 50, "the most decisions listed")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one decision",
		Long:  "Show one decision as JSON: its subject, the reports behind it, the reason, its status, what the method did, and its expiry.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row map[string]any
			if err := get(cmd, "/api/responses/"+url.PathEscape(args[0]), &row); err != nil {
				return fail(err)
			}
			return failed(writeIndented(e.stdout, row))
		},
	}
	undo := &cobra.Command{
		Use:   "undo ID",
		Short: "Undo a decision in force",
		Long: "Undo a decision in force: its method reverses what it did (a block is lifted) and the decision\n" +
			"becomes undone. An unknown decision, or one not in force, is an error that says why.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(base, "/")+"/api/responses/"+url.PathEscape(args[0])+"/undo", nil)
			if err != nil {
				return fail(fmt.Errorf("--url %q: %w", base, err))
			}
			var ans map[string]string
			if err := send(cmd, req, &ans); err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "undone %s\n", text(ans["undone"]))
			return nil
		},
	}
	post := func(cmd *cobra.Command, path string, body any, out any) error {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("--url %q: %w", base, err)
		}
		req.Header.Set("Content-Type", "application/json")
		return send(cmd, req, out)
	}
	var method, reason string
	var dur time.Duration
	block := &cobra.Command{
		Use:   "block ADDRESS|PREFIX --method NAME",
		Short: "Block an address or prefix with a configured method, as an operator",
		Long: "Ask the decision unit to block an address or prefix with one of the monitor's response methods\n" +
			"(responses:), for --for (0: until unblocked). It is carried out in monitor mode too; protected\n" +
			"addresses are refused, and an address already blocked is blocked once.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subj, _, err := addrSubject(args[0])
			if err != nil {
				return fail(err)
			}
			var ans map[string]string
			if err := post(cmd, "/api/responses", map[string]any{"method": method, "subject": subj, "duration": dur.String(), "reason": reason}, &ans); err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "%s %s: %s\n", text(ans["status"]), text(ans["id"]), text(ans["reason"]))
			if ans["status"] != "done" && ans["status"] != "suppressed" {
				return &exitError{code: ExitFailure, err: fmt.Errorf("not blocked (%s)", text(ans["status"]))}
			}
			return nil
		},
	}
	block.Flags().StringVar(&method, "method", "", "the response method's name in the resource object")
	block.Flags().DurationVar(&dur, "for", 0, "how long the block lasts (0: until unblocked)")
	block.Flags().StringVar(&reason, "reason", "", "why, for the audit")
	_ = block.MarkFlagRequired("method")
	unblock := &cobra.Command{
		Use:   "unblock ADDRESS|PREFIX --method NAME",
		Short: "Lift the blocks in force of an address or prefix by a method",
		Long: "Undo every decision in force of the method on the address or prefix (a policy's or an\n" +
			"operator's); it is an error when there is none.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, key, err := addrSubject(args[0])
			if err != nil {
				return fail(err)
			}
			q := url.Values{"status": {"done"}, "key": {method + "|" + key}, "limit": {"10000"}}
			var rows []map[string]any
			if err := get(cmd, "/api/responses?"+q.Encode(), &rows); err != nil {
				return fail(err)
			}
			if len(rows) == 0 {
				return fail(fmt.Errorf("no block of %s by %s is in force", args[0], method))
			}
			for _, r := range rows {
				id, _ := r["id"].(string)
				var ans map[string]string
				if err := post(cmd, "/api/responses/"+url.PathEscape(id)+"/undo", nil, &ans); err != nil {
					return fail(fmt.Errorf("undo %s: %w", id, err))
				}
				fmt.Fprintf(e.stdout, "undone %s\n", text(id))
			}
			return nil
		},
	}
	unblock.Flags().StringVar(&method, "method", "", "the response method's name in the resource object")
	_ = unblock.MarkFlagRequired("method")
	cmd.AddCommand(list, show, undo, block, unblock)
	return cmd
}

// addrSubject reads an address or prefix as a response subject, and the
// key the decision unit files it under.
func addrSubject(s string) (map[string]string, string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return map[string]string{"addr": a.String()}, "addr=" + a.String(), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		return map[string]string{"prefix": p.String()}, "prefix=" + p.String(), nil
	}
	return nil, "", fmt.Errorf("%q is not an address or prefix", s)
}

// doJSON sends req and decodes a 200 answer into out; another answer is
// an error carrying the API's message.
func doJSON(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s answered %s", req.URL.Redacted(), resp.Status)
	}
	return json.Unmarshal(body, out)
}

func writeIndented(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// text renders a value for a terminal: control characters (and a
// terminal's escape sequences with them) are escaped.
func text(v any) string {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return ""
		}
		s = fmt.Sprint(v)
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}
