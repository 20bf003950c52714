// Command switchboard is the Switchboard engine: it holds the SMPP binds to
// the carriers, sends queued messages within every number's rate, files
// replies and receipts into workspace threads, and serves the HTTP API. The
// engine itself is package engine; this command parses the command line and
// calls it.
//
//	switchboard serve --config configs/switchboard.yaml
//	switchboard reload --config FILE
//	switchboard check-config --config FILE
//	switchboard migrate --config FILE
//	switchboard workspace create --name N [--sms-addon]
//	switchboard number add --number +E164 --kind shared|dedicated [--workspace ID] --carrier NAME [--class NAME]
//	switchboard workspace token create --workspace ID --scope messages|settings [--scope ...] [--name N]
//	switchboard workspace token list --workspace ID
//	switchboard workspace token revoke --workspace ID --id TOKEN_ID
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/engine"
	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
)

const usage = `switchboard: a direct SMPP carrier-connection engine

Usage:
  switchboard serve        --config FILE     run the engine until SIGTERM/SIGINT; SIGHUP
                                             reloads FILE without dropping binds
  switchboard reload       --config FILE     signal the engine serving FILE (its pid_file)
                                             to reload it; FILE is checked first
  switchboard check-config --config FILE     validate the configuration and exit
  switchboard migrate      --config FILE     bring the database schema up to date
  switchboard workspace create --config FILE --name NAME [--sms-addon]
                                             create a workspace; prints its API token once
  switchboard number add --config FILE --number +E164 --kind shared|dedicated
                         [--workspace ID] --carrier NAME [--class NAME]
                                             add a number to the shared pool or dedicate it
  switchboard workspace token create --config FILE --workspace ID --scope SCOPE [--scope SCOPE] [--name NAME]
                                             issue an API token with scopes (messages: send and
                                             read threads; settings: numbers and number requests);
                                             prints it once
  switchboard workspace token list   --config FILE --workspace ID
                                             list the workspace's tokens (never their secrets)
  switchboard workspace token revoke --config FILE --workspace ID --id TOKEN_ID
                                             revoke a token

--config defaults to $SWITCHBOARD_CONFIG, then configs/switchboard.yaml.
Secrets come from the environment variables the file names (carriers'
password_env, operator.token_env), never from the file.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := args[0], args[1:]
	if (cmd == "workspace" || cmd == "number") && len(rest) > 0 {
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	if cmd == "workspace token" && len(rest) > 0 {
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("switchboard "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	var (
		name, number, kind, carrier, class string
		addon                              bool
		workspace, tokenID                 int64
		scopes                             scopeFlag
	)
	switch cmd {
	case "workspace create":
		fs.StringVar(&name, "name", "", "workspace name (required)")
		fs.BoolVar(&addon, "sms-addon", false, "give the workspace the SMS add-on")
	case "number add":
		fs.StringVar(&number, "number", "", "the number, E.164 (required)")
		fs.StringVar(&kind, "kind", "", "shared or dedicated (required)")
		fs.Int64Var(&workspace, "workspace", 0, "the owning workspace of a dedicated number")
		fs.StringVar(&carrier, "carrier", "", "the carrier that sends from it (required)")
		fs.StringVar(&class, "class", "", "its rate class (default: shared or dedicated by kind)")
	case "workspace token create":
		fs.Int64Var(&workspace, "workspace", 0, "the workspace (required)")
		fs.Var(&scopes, "scope", "a scope of the token: messages or settings (required; repeat or comma-separate for both)")
		fs.StringVar(&name, "name", "", "a name to tell the token apart")
	case "workspace token list":
		fs.Int64Var(&workspace, "workspace", 0, "the workspace (required)")
	case "workspace token revoke":
		fs.Int64Var(&workspace, "workspace", 0, "the workspace (required)")
		fs.Int64Var(&tokenID, "id", 0, "the token's id, as token list shows it (required)")
	case "serve", "check-config", "migrate", "reload":
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "check-config":
		fmt.Fprintf(stdout, "%s: ok (%d carriers, %d rate classes)\n", *cfgPath, len(cfg.Carriers), len(cfg.Classes))
		return 0
	case "reload":
		return reload(cfg, *cfgPath, stdout, stderr)
	case "serve":
		log := engine.NewLogger(cfg.Log.Level, stderr)
		defer log.Sync()
		e, err := engine.New(ctx, cfg, log)
		if err != nil {
			log.Error("start failed", zap.Error(err))
			return 1
		}
		// SIGHUP is handled before the pid file tells where to send it.
		stopHUP := reloadOnHUP(ctx, e, log)
		defer stopHUP()
		if cfg.PIDFile != "" {
			if err := writePIDFile(cfg.PIDFile); err != nil {
				log.Error("start failed", zap.String("field", "pid_file"), zap.Error(err))
				return 1
			}
			defer os.Remove(cfg.PIDFile)
		}
		if err := e.Run(ctx); err != nil {
			log.Error("engine failed", zap.Error(err))
			return 1
		}
		return 0
	}
	db, store, err := engine.OpenStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
	defer db.Close()
	switch cmd {
	case "migrate":
		v, _ := inbox.SchemaVersion(ctx, db)
		fmt.Fprintf(stdout, "schema at version %d\n", v)
	case "workspace create":
		if name == "" {
			fmt.Fprintln(stderr, "switchboard workspace create: --name is required")
			return 2
		}
		ws, token, err := store.CreateWorkspace(ctx, name, addon)
		if err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		fmt.Fprintf(stdout, "workspace %d %q created (sms add-on: %v)\nAPI token (shown once): %s\n", ws.ID, ws.Name, ws.SMSAddon, token)
	case "number add":
		if number == "" || carrier == "" || (kind != "shared" && kind != "dedicated") {
			fmt.Fprintln(stderr, "switchboard number add: --number, --carrier and --kind shared|dedicated are required")
			return 2
		}
		if _, ok := cfg.Carrier(carrier); !ok {
			fmt.Fprintf(stderr, "switchboard number add: carrier %q is not in %s\n", carrier, *cfgPath)
			return 2
		}
		if class != "" {
			if _, ok := cfg.Class(class); !ok {
				fmt.Fprintf(stderr, "switchboard number add: rate class %q is not in %s\n", class, *cfgPath)
				return 2
			}
		}
		n, err := store.AddNumber(ctx, inbox.NewNumber{E164: number, Kind: inbox.NumberKind(kind), RateClass: class, Carrier: carrier, Owner: inbox.WorkspaceID(workspace)})
		if err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		fmt.Fprintf(stdout, "number %d %s added (%s, class %s, carrier %s)\n", n.ID, n.E164, n.Kind, n.RateClass, n.Carrier)
	case "workspace token create", "workspace token list", "workspace token revoke":
		return tokenCommand(ctx, store, cmd, inbox.WorkspaceID(workspace), inbox.TokenID(tokenID), name, scopes, stdout, stderr)
	}
	return 0
}

// scopeFlag collects --scope values (repeated or comma-separated).
type scopeFlag []inbox.Scope

func (f *scopeFlag) String() string { return fmt.Sprint([]inbox.Scope(*f)) }

func (f *scopeFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		sc, ok := inbox.ParseScope(s)
		if !ok {
			return fmt.Errorf("unknown scope %q (messages or settings)", s)
		}
		*f = append(*f, sc)
	}
	return nil
}

// tokenCommand runs switchboard workspace token create|list|revoke.
func tokenCommand(ctx context.Context, store *inbox.Store, cmd string, ws inbox.WorkspaceID, id inbox.TokenID, name string,
	scopes []inbox.Scope, stdout, stderr io.Writer) int {
	if ws <= 0 {
		fmt.Fprintf(stderr, "switchboard %s: --workspace is required\n", cmd)
		return 2
	}
	show := func(t inbox.Token) {
		prefix, used, state := t.Prefix, "never", "active"
		if prefix == "" {
			prefix = "-"
		}
		if !t.LastUsedAt.IsZero() {
			used = t.LastUsedAt.UTC().Format(time.RFC3339)
		}
		if !t.RevokedAt.IsZero() {
			state = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%d\t%s\t%q\t%v\tcreated %s\tlast used %s\t%s\n", t.ID, prefix, t.Name, t.Scopes,
			t.CreatedAt.UTC().Format(time.RFC3339), used, state)
	}
	switch cmd {
	case "workspace token create":
		if len(scopes) == 0 {
			fmt.Fprintln(stderr, "switchboard workspace token create: --scope is required (messages, settings, or both)")
			return 2
		}
		t, secret, err := store.IssueToken(ctx, ws, inbox.NewToken{Name: name, Scopes: scopes})
		if err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		fmt.Fprintf(stdout, "token %d for workspace %d, scopes %v\nAPI token (shown once): %s\n", t.ID, ws, t.Scopes, secret)
	case "workspace token list":
		list, err := store.ListTokens(ctx, ws)
		if err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		for _, t := range list {
			show(t)
		}
	case "workspace token revoke":
		if id <= 0 {
			fmt.Fprintln(stderr, "switchboard workspace token revoke: --id is required")
			return 2
		}
		t, err := store.RevokeTokenID(ctx, ws, id)
		if err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		show(t)
	}
	return 0
}

func defaultConfigPath() string {
	if p := os.Getenv("SWITCHBOARD_CONFIG"); p != "" {
		return p
	}
	return "configs/switchboard.yaml"
}
