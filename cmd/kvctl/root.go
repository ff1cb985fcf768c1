package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// defaultEndpoints is used when neither --endpoints nor KVCTL_ENDPOINTS is set.
const defaultEndpoints = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"

// envEndpoints names the environment variable that overrides defaultEndpoints.
const envEndpoints = "KVCTL_ENDPOINTS"

// envToken names the environment variable that supplies --token.
const envToken = "RAFTKV_TOKEN"

// kvClient is the part of *client.Client the commands use; tests substitute
// a fake to exercise commands and printers without a cluster.
type kvClient interface {
	Put(ctx context.Context, key string, value []byte) (*client.PutResponse, error)
	PutIf(ctx context.Context, key string, value []byte, modIndex uint64) (*client.PutResponse, error)
	CompareAndSwap(ctx context.Context, key string, oldValue, newValue []byte) (bool, error)
	Get(ctx context.Context, key string, opts ...client.ReadOption) (*client.GetResponse, error)
	Delete(ctx context.Context, key string) (*client.DeleteResponse, error)
	DeleteIf(ctx context.Context, key string, modIndex uint64) (*client.DeleteResponse, error)
	List(ctx context.Context, prefix string, opts ...client.ReadOption) (*client.ListResponse, error)
	Members(ctx context.Context) ([]client.Member, error)
	Status(ctx context.Context, endpoint string) (*client.Status, error)
	AddMember(ctx context.Context, id, raftAddr, grpcAddr string, nonvoter bool) error
	RemoveMember(ctx context.Context, id string) error
	PromoteMember(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, toID string) error
	Close() error
}

// app holds one invocation's I/O, flags and state. Nothing is global, so
// tests can run many invocations in one process.
type app struct {
	stdout, stderr io.Writer
	env            func(string) string
	// dial builds the client; run uses client.New, tests a fake.
	dial func(client.Config) (kvClient, error)

	// Global flags.
	endpoints      string
	token          string
	dialTimeout    time.Duration
	commandTimeout time.Duration
	writeOut       string
	debug          bool
	tls            tlsFlags

	out printer // chosen from writeOut before a command runs
	// started is set once a command begins to run; an error before that
	// (unknown command or flag, wrong number of arguments) is a usage error.
	started bool
}

// run executes kvctl with args (without the program name) and returns the
// process exit code. Errors are printed to stderr once, here.
func run(args []string, stdout, stderr io.Writer, env func(string) string) int {
	a := &app{
		stdout: stdout,
		stderr: stderr,
		env:    env,
		dial: func(cfg client.Config) (kvClient, error) {
			return client.New(cfg)
		},
	}
	return a.execute(args)
}

// execute runs the command tree and maps the outcome to an exit code.
func (a *app) execute(args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	if !a.started {
		err = usageError{err}
	}
	fmt.Fprintf(a.stderr, "Error: %v\n", err)
	if errors.As(err, new(usageError)) && cmd != nil {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	if errors.Is(err, client.ErrNoQuorum) {
		fmt.Fprintln(a.stderr, "The cluster has lost its quorum: writes and linearizable reads fail until a majority "+
			"of members is back. Reads still work with 'kvctl get --consistency stale'.")
	}
	return exitCode(err)
}

// rootCmd builds the command tree.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "kvctl",
		Short: "Command-line client for the raftkv replicated key-value store",
		Long: `kvctl reads and writes keys in a raftkv cluster and inspects its members.

Writes are sent to the leader, exactly once: a write interrupted by a
leader failure is sent again to the new leader under the same request id,
and the cluster applies it only once. "cas" and "--mod-index" make writes
conditional. Gets and lists are linearizable by default
(served by the leader); "get --consistency stale|bounded" reads from any
member instead, and keeps working when the cluster has lost its quorum.
kvctl learns the members and the leader from any reachable endpoint and
fails over when the leader changes, within --command-timeout. "member"
adds, promotes and removes members; "leader transfer" moves leadership.
Against a cluster with TLS, pass --cacert (and --cert/--key when it
requires client certificates); "kvctl certs create" makes development ones.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			p, err := newPrinter(a.writeOut)
			if err != nil {
				return usageError{err}
			}
			if a.commandTimeout <= 0 {
				return usageError{fmt.Errorf("--command-timeout must be positive, got %v", a.commandTimeout)}
			}
			a.out = p
			a.started = true
			return nil
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	endpoints := defaultEndpoints
	if v := a.env(envEndpoints); v != "" {
		endpoints = v
	}
	f := root.PersistentFlags()
	f.StringVar(&a.endpoints, "endpoints", endpoints,
		"comma-separated client gRPC addresses of cluster members (env "+envEndpoints+")")
	// The env var is read in clientConfig, not used as the flag default,
	// so that --help never prints a token.
	f.StringVar(&a.token, "token", "", "bearer token for clusters with auth on (env "+envToken+")")
	f.DurationVar(&a.dialTimeout, "dial-timeout", client.DefaultDialTimeout, "timeout for connecting to one member")
	f.DurationVar(&a.commandTimeout, "command-timeout", 5*time.Second,
		"timeout for the whole command, retries and failover included")
	f.StringVarP(&a.writeOut, "write-out", "w", "simple", "output format: simple, table or json (json values are base64)")
	f.BoolVar(&a.debug, "debug", false, "log the client's retries and leader changes to stderr")
	a.tls.register(root)

	root.AddCommand(a.putCmd(), a.getCmd(), a.delCmd(), a.casCmd(), a.memberCmd(), a.leaderCmd(), a.clusterCmd(), a.benchCmd(), a.certsCmd())
	return root
}

// clientConfig turns the global flags into a client.Config.
func (a *app) clientConfig() (client.Config, error) {
	var eps []string
	for ep := range strings.SplitSeq(a.endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return client.Config{}, usageError{errors.New("--endpoints lists no address")}
	}
	logger := slog.New(slog.DiscardHandler)
	if a.debug {
		logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tlsCfg, err := a.tls.config()
	if err != nil {
		return client.Config{}, err
	}
	token := a.token
	if token == "" {
		token = a.env(envToken)
	}
	return client.Config{Endpoints: eps, DialTimeout: a.dialTimeout, TLS: tlsCfg, Token: token, Logger: logger}, nil
}

// withClient runs fn with a client and a context bounded by
// --command-timeout, then closes the client.
func (a *app) withClient(cmd *cobra.Command, fn func(ctx context.Context, c kvClient) error) error {
	cfg, err := a.clientConfig()
	if err != nil {
		return err
	}
	c, err := a.dial(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), a.commandTimeout)
	defer cancel()
	return fn(ctx, c)
}

// exactArgs is cobra.ExactArgs with argument names in the message.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("expected %d argument(s) <%s>, got %d", len(names), strings.Join(names, "> <"), len(args))
		}
		return nil
	}
}
