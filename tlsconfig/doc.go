// Package tlsconfig builds *tls.Config values from PEM files for every
// raftkv component: kvd's client gRPC listener, its mutual-TLS raft
// transport and its node-to-node gRPC calls, the Go client, kvctl and
// kvgateway. It follows etcd's TLSInfo: an [Info] names a certificate, its
// key and a trusted CA bundle, and turns into a server, client or peer
// (mutual) configuration. Every configuration requires TLS 1.2 or newer.
//
// Certificates and keys are reloaded from disk when their files change (the
// check is a stat per handshake), so a node picks up a rotated certificate
// without a restart. CA bundles are read once, at start.
//
// devcert.go creates a throwaway certificate authority and node and client
// certificates for development clusters and tests (kvctl certs create).
//
// The package imports only the standard library; it must never import
// grpc, raft or any raftkv package, so that every layer may use it.
package tlsconfig
