package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/layerscan/layerscan/shared/source"
)

// TestEndlessCatalogIsBounded: a registry whose catalog links to a next
// page forever fails the listing after MaxListPages, instead of holding a
// scan and growing memory without end; its text is not quoted.
func TestEndlessCatalogIsBounded(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
		case r.URL.Path == "/v2/_catalog":
			i := n.Add(1)
			w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?n=1&last=r%d>; rel="next"`, i))
			fmt.Fprintf(w, `{"repositories":["r%d"]}`, i)
		case strings.HasSuffix(r.URL.Path, "/tags/list"):
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"SECRET registry text"}]}`)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := Repositories(context.Background(), host, true, source.Options{})
	if err == nil || !strings.Contains(err.Error(), "pages") || n.Load() > MaxListPages+1 {
		t.Errorf("endless catalog: %v after %d pages", err, n.Load())
	}
	_, err = Tags(context.Background(), host+"/team/app", true, source.Options{})
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "403") {
		t.Errorf("a refused tag list: %v", err)
	}
}
