// Command kvgateway serves raftkv's HTTP/JSON API, in the shape of Consul's
// KV API, in front of a cluster: bearer-token auth with read/write/admin
// roles, rate limits per client IP and per token, an access log, metrics
// and health probes. It is stateless; run several behind a load balancer.
//
//	kvgateway --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 \
//	    --listen-addr 127.0.0.1:7300 --token-file tokens.json
//
// Against a cluster with TLS, --cacert verifies the members and --cert/--key
// present a client certificate (etcd grpc-proxy's names; --cert-file and
// --key-file are the gateway's own HTTPS certificate). SIGHUP reloads the
// token file; SIGTERM (or SIGINT) drains: /readyz fails,
// then after --drain-delay the listener closes and requests in flight get
// up to --shutdown-timeout to finish. Run `kvgateway --help` for every flag.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1) // size 1: a SIGHUP during a reload is kept, not lost
	signal.Notify(hup, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stderr, hup, nil)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "kvgateway:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "kvgateway:", err)
		os.Exit(1)
	}
}

// run parses flags, starts the gateway and serves until ctx ends (SIGTERM
// or SIGINT), then drains. Every value received on reload re-reads the
// token file. listening, if not nil, is told the bound address once the
// listener is open (tests use --listen-addr 127.0.0.1:0).
func run(ctx context.Context, args []string, stderr io.Writer, reload <-chan os.Signal, listening func(net.Addr)) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := o.logger
	o.client.Logger = log
	cl, err := client.New(o.client)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	defer func() {
		if err := cl.Close(); err != nil {
			log.Warn("closing the cluster client", "err", err)
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gcfg := o.gateway
	gcfg.Backend, gcfg.Logger, gcfg.Registry = cl, log, reg
	gw, err := gateway.New(gcfg)
	if err != nil {
		return err
	}

	var tlsConfig *tls.Config
	if o.certFile != "" {
		// Loaded here, not by ServeTLS, so that a bad file fails the start.
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return fmt.Errorf("%w: --cert-file/--key-file: %w", errUsage, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", o.listenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		TLSConfig:         tlsConfig,
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		// A 1 MiB body from a slow client must still fit.
		ReadTimeout:    time.Minute,
		WriteTimeout:   o.gateway.RequestTimeout + time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	} else if !o.gateway.InsecureNoAuth && !isLoopback(ln.Addr()) {
		log.Warn("serving plain HTTP on a non-loopback address: bearer tokens cross the network in clear; use --cert-file/--key-file or a TLS-terminating load balancer")
	}
	served := make(chan error, 1) // size 1: the serving goroutine never blocks on exit
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	log.Info("kvgateway serving", "addr", ln.Addr().String(), "scheme", scheme, "endpoints", o.client.Endpoints, "auth", !o.gateway.InsecureNoAuth)
	if listening != nil {
		listening(ln.Addr())
	}

	for {
		select {
		case <-reload:
			if err := gw.Reload(); err != nil {
				log.Error("token file reload failed; the previous tokens stay in force", "err", err)
			}
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			return drain(gw, srv, served, o, log)
		}
	}
}

// drain shuts the server down gracefully: /readyz fails first, then after
// drainDelay the listener closes and requests in flight get up to
// shutdownTimeout to finish; whatever is left then is cut off.
func drain(gw *gateway.Gateway, srv *http.Server, served <-chan error, o *options, log *slog.Logger) error {
	log.Info("shutting down: draining", "drain_delay", o.drainDelay, "shutdown_timeout", o.shutdownTimeout)
	gw.StartDrain()
	if o.drainDelay > 0 {
		time.Sleep(o.drainDelay) // not synchronisation: the time load balancers need to see /readyz fail
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		log.Warn("requests still in flight at the shutdown timeout; closing them", "err", err)
		err = errors.Join(fmt.Errorf("graceful shutdown: %w", err), srv.Close())
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve: %w", serr))
	}
	log.Info("kvgateway stopped")
	return err
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
