package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/raftkv/raftkv/auth"
	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/cmd/internal/logflags"
	"github.com/raftkv/raftkv/gateway"
	"github.com/raftkv/raftkv/tlsconfig"
)

// errUsage marks flag and configuration errors (exit code 2).
var errUsage = errors.New("usage error")

// options is the parsed command line.
type options struct {
	listenAddr      string
	certFile        string
	keyFile         string
	shutdownTimeout time.Duration
	drainDelay      time.Duration
	client          client.Config
	gateway         gateway.Config // without Backend, Logger and Registry
	logger          *slog.Logger
}

// parseFlags turns the command line into validated options and the process
// logger. Nothing starts before this returns without error.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{client: client.DefaultConfig()}
	fs := flag.NewFlagSet("kvgateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kvgateway [flags]\n\nkvgateway serves raftkv's HTTP/JSON API (Consul's KV shape) in front of a cluster.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listenAddr, "listen-addr", "127.0.0.1:7300", "HTTP listen address")
	fs.StringVar(&o.certFile, "cert-file", "", "serve HTTPS with this certificate (PEM; needs --key-file)")
	fs.StringVar(&o.keyFile, "key-file", "", "private key of --cert-file (PEM)")
	endpoints := fs.String("endpoints", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", "client gRPC addresses of cluster members, comma-separated (the rest is discovered)")
	upstream := tlsconfig.Info{}
	fs.StringVar(&upstream.TrustedCAFile, "cacert", "", "cluster connection: verify the members' certificates with this CA bundle (PEM); enables TLS to the cluster")
	fs.StringVar(&upstream.CertFile, "cert", "", "cluster connection: client certificate (PEM) for clusters with --client-cert-auth; needs --key")
	fs.StringVar(&upstream.KeyFile, "key", "", "cluster connection: private key of --cert (PEM)")
	clusterToken := fs.String("cluster-token-file", "", "cluster connection: file holding the gateway's own bearer token for a cluster run with --auth-token-file (role write, or admin)")
	fs.DurationVar(&o.client.DialTimeout, "dial-timeout", o.client.DialTimeout, "bound on one connection attempt to one member")
	fs.StringVar(&o.gateway.TokenFile, "token-file", "", "bearer tokens and roles (JSON; reloaded on SIGHUP); required unless --insecure-no-auth")
	fs.BoolVar(&o.gateway.InsecureNoAuth, "insecure-no-auth", false, "serve without authentication: anyone who can connect may read, write and delete (development only)")
	ipRate := fs.Float64("ip-rate", gateway.DefaultIPLimit.Rate, "requests per second allowed per client IP (IPv6: per /64); 0 disables the limit")
	ipBurst := fs.Int("ip-burst", gateway.DefaultIPLimit.Burst, "burst allowed per client IP")
	proxies := fs.String("trusted-proxies", "", "CIDRs of load balancers whose X-Forwarded-For is believed for per-IP limits, comma-separated")
	fs.DurationVar(&o.gateway.RequestTimeout, "request-timeout", gateway.DefaultRequestTimeout, "bound on each request's calls to the cluster, retries included")
	fs.DurationVar(&o.gateway.ReadyTTL, "ready-ttl", gateway.DefaultReadyTTL, "how long /readyz reuses its probe of the cluster")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long requests in flight may take to finish")
	fs.DurationVar(&o.drainDelay, "drain-delay", 0, "on SIGTERM, how long /readyz fails before the listener closes (let load balancers notice)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (the access log is at info)")
	logFormat := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	logger, err := logflags.New(stderr, *logLevel, *logFormat)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	o.logger = logger
	if !upstream.Empty() {
		if err := upstream.Validate(); err != nil {
			return nil, fmt.Errorf("%w: --cacert/--cert/--key: %w", errUsage, err)
		}
		if o.client.TLS, err = upstream.ClientConfig(); err != nil {
			return nil, fmt.Errorf("%w: --cacert/--cert/--key: %w", errUsage, err)
		}
	}
	if *clusterToken != "" {
		if o.client.Token, err = auth.LoadNodeToken(*clusterToken); err != nil {
			return nil, fmt.Errorf("%w: --cluster-token-file: %w", errUsage, err)
		}
	}
	o.client.Endpoints = splitList(*endpoints)
	if err := o.client.Validate(); err != nil {
		return nil, fmt.Errorf("%w: --endpoints/--dial-timeout: %w", errUsage, err)
	}
	o.gateway.IPLimit = gateway.Limit{Rate: *ipRate, Burst: *ipBurst}
	if *ipRate == 0 {
		o.gateway.IPLimit = gateway.NoLimit
	}
	for _, s := range splitList(*proxies) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%w: --trusted-proxies: %q is not a CIDR or an IP", errUsage, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		o.gateway.TrustedProxies = append(o.gateway.TrustedProxies, p.Masked())
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return nil, fmt.Errorf("%w: --cert-file and --key-file go together", errUsage)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--shutdown-timeout", o.shutdownTimeout}, {"--drain-delay", o.drainDelay}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%w: %s must not be negative", errUsage, d.name)
		}
	}
	// Validate without a backend: the client is built only once all flags
	// are known to be good.
	check := o.gateway
	check.Backend = placeholder{}
	if err := check.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return o, nil
}

// placeholder stands in for the Backend while the flags are validated.
type placeholder struct{ gateway.Backend }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
