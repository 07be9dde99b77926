// Command coredns is CoreDNS with the few plugins the test worker node's
// cluster DNS needs (bind, errors, log, hosts): the chart's NetworkPolicy is
// judged on a DNS server the way clusters run one, a CoreDNS pod labelled
// k8s-app=kube-dns in kube-system (test/network-policy.e2e-spec.ts). Built the
// way CoreDNS documents for a chosen set of plugins: its own main package,
// which sets the directives in their upstream order and runs coremain.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/log"
)

func init() {
	dnsserver.Directives = []string{"bind", "errors", "log", "hosts"}
}

func main() { coremain.Run() }
