package clusters

import (
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/registries"
)

func TestValidate(t *testing.T) {
	ok := func() Cluster {
		return Cluster{ID: "prod", Server: "https://10.0.0.1:6443", Token: &registries.Secret{Env: "KUBE_TOKEN"}}
	}
	for _, tc := range []struct {
		name   string
		change func(*Cluster)
		want   string // "" is valid
	}{
		{"valid", func(*Cluster) {}, ""},
		{"plain http", func(c *Cluster) { c.Server = "http://10.0.0.1" }, "server"},
		{"credentials in the URL", func(c *Cluster) { c.Server = "https://u:p@10.0.0.1" }, "server"},
		{"no token", func(c *Cluster) { c.Token = nil }, "token"},
		{"two token sources", func(c *Cluster) { c.Token = &registries.Secret{Env: "A", Value: "b"} }, "token"},
		{"not a CA", func(c *Cluster) { c.CA = "-----BEGIN NOTHING-----" }, "ca"},
		{"bad ID", func(c *Cluster) { c.ID = "Prod/../x" }, "id"},
		{"bad namespace", func(c *Cluster) { c.Namespaces = []string{"Kube System"} }, "namespaces[0]"},
		{"unknown kind", func(c *Cluster) { c.Workloads = []Workload{{Kind: "ReplicaSet", Name: "x"}} }, "kind"},
		{"empty workload", func(c *Cluster) { c.Workloads = []Workload{{}} }, "workloads[0]"},
		{"selector", func(c *Cluster) { c.Workloads = []Workload{{Selector: "app=web,tier!=db"}} }, ""},
		{"hostile selector", func(c *Cluster) { c.Workloads = []Workload{{Selector: "app=web&limit=1"}} }, "selector"},
	} {
		c := ok()
		tc.change(&c)
		err := c.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if m := ok(); m.Token != nil {
		m.Token = &registries.Secret{Encrypted: "v1:sealed"}
		if got := m.Masked().Token; got.Encrypted != "****" {
			t.Errorf("masked token: %+v", got)
		}
	}
}
