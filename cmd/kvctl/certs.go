package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/tlsconfig"
)

// certsCmd is `kvctl certs` and its subcommands.
func (a *app) certsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create certificates for a development cluster",
		Args:  cobra.NoArgs,
	}
	var dir, nodes, hosts string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a development CA, node certificates and a client certificate",
		Long: `Create a throwaway PKI for a local or test cluster in --dir:

  ca.pem, ca-key.pem          the CA (its key is a plain file: development only)
  <node>.pem, <node>-key.pem  one per --nodes entry, for kvd's --cert-file and
                              --peer-cert-file; SANs 127.0.0.1, ::1, localhost,
                              the node name and --hosts
  client.pem, client-key.pem  for kvctl --cert/--key and kvgateway

Every certificate is valid for both server and client authentication.
Existing files are kept, so running it again only adds what is missing,
signed by the existing CA. The command needs no cluster.`,
		Example: "  kvctl certs create --dir .cluster/certs --nodes n1,n2,n3",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			wrote, err := tlsconfig.WriteDevCerts(dir, splitComma(nodes), splitComma(hosts))
			for _, f := range wrote {
				fmt.Fprintln(a.stdout, "wrote", filepath.Clean(f))
			}
			if err != nil {
				return fmt.Errorf("create certificates: %w", err)
			}
			if len(wrote) == 0 {
				fmt.Fprintln(a.stdout, "all certificates already exist in", dir)
			}
			return nil
		},
	}
	create.Flags().StringVar(&dir, "dir", "certs", "directory to write into (created if missing)")
	create.Flags().StringVar(&nodes, "nodes", "n1,n2,n3", "node names, comma-separated: one certificate each")
	create.Flags().StringVar(&hosts, "hosts", "", "extra SANs for every node certificate (IPs or DNS names), comma-separated")
	cmd.AddCommand(create)
	return cmd
}

func splitComma(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
