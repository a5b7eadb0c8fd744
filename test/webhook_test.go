package test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/layerscan/layerscan/shared/suite"
)

// TestWebhooksAreAuthenticated: push notifications are refused unless
// they prove their registry's webhook secret (Harbor's auth header, a
// token, an HMAC signature of the body), or the registry explicitly takes
// unauthenticated ones; a replay queues nothing; a body naming thousands
// of images is refused; webhook payloads on /invoke are refused.
func TestWebhooksAreAuthenticated(t *testing.T) {
	a := newAPIEnv(t)
	host := startDebianRegistryOrGGCR(t)
	push(t, corpusDebian(t), host+"/team/app:1.0")
	harbor := func(occur int) string {
		return fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":%d,"event_data":{"resources":[{"tag":"1.0","resource_url":"%s/team/app:1.0"}],"repository":{"repo_full_name":"team/app"}}}`, occur, host)
	}
	post := func(path, body string, headers map[string]string) (int, string) {
		return a.send(t, http.MethodPost, path, body, headers)
	}
	scans := func() int {
		n, _ := filepath.Glob(filepath.Join(a.store, "scans", "*", "state.json"))
		return len(n)
	}
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"h","kind":"harbor","hosts":["`+host+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	// No secret configured: refused.
	if code, body := post("/v1/events", harbor(1), nil); code != http.StatusUnauthorized || !strings.Contains(body, "no webhook secret") {
		t.Errorf("no secret configured: %d %s", code, body)
	}
	t.Setenv("HARBOR_HOOK", "harbor-hook-secret")
	if code, body := a.do(t, "PUT", "/v1/registries/h", `{"id":"h","kind":"harbor","hosts":["`+host+`"],"insecure":true,"auth":{"method":"none"},"webhook":{"secret":{"env":"HARBOR_HOOK"}}}`); code != http.StatusOK {
		t.Fatal(code, body)
	}
	for _, h := range []map[string]string{nil, {"Authorization": "wrong"}, {"Authorization": "Bearer wrong"}, {"X-Layerscan-Signature": "sha256=00"}} {
		if code, body := post("/v1/events", harbor(2), h); code != http.StatusUnauthorized {
			t.Errorf("proof %v: %d %s", h, code, body)
		}
	}
	if scans() != 0 {
		t.Fatalf("refused notifications wrote %d scans", scans())
	}
	sign := func(body string) string {
		m := hmac.New(sha256.New, []byte("harbor-hook-secret"))
		m.Write([]byte(body))
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	for i, c := range []struct {
		path    string
		headers map[string]string
	}{
		{"/v1/events", map[string]string{"Authorization": "harbor-hook-secret"}},
		{"/v1/events", map[string]string{"Authorization": "Bearer harbor-hook-secret"}},
		{"/v1/events?token=harbor-hook-secret", nil},
		{"/v1/events", map[string]string{"X-Hub-Signature-256": sign(harbor(13))}},
	} {
		if code, body := post(c.path, harbor(10+i), c.headers); code != http.StatusAccepted {
			t.Errorf("proof %d: %d %s", i, code, body)
		}
	}
	// Four notifications of one digest within the window: one scan.
	for range 400 {
		if r, _ := filepath.Glob(filepath.Join(a.store, "scans", "*", "result.json")); len(r) == scans() && scans() > 0 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if n := scans(); n != 1 {
		t.Errorf("%d scans for one digest notified four times", n)
	}
	// 20 replays of one notification: nothing more.
	for range 20 {
		post("/v1/events", harbor(10), map[string]string{"Authorization": "harbor-hook-secret"})
	}
	if n := scans(); n != 1 {
		t.Errorf("%d scans after 20 replays", n)
	}
	// A body naming 3,000 images is refused, writing nothing.
	var res []string
	for i := range 3000 {
		res = append(res, fmt.Sprintf(`{"tag":"t%d","resource_url":"%s/team/app:t%d"}`, i, host, i))
	}
	big := `{"type":"PUSH_ARTIFACT","occur_at":99,"event_data":{"resources":[` + strings.Join(res, ",") + `],"repository":{"repo_full_name":"team/app"}}}`
	if code, body := post("/v1/events", big, map[string]string{"Authorization": "harbor-hook-secret"}); code != http.StatusBadRequest || !strings.Contains(body, "3000 images") {
		t.Errorf("3,000 images: %d %.200s", code, body)
	}
	if n := scans(); n != 1 {
		t.Errorf("%d scans after the big body", n)
	}
	// A webhook payload as an event invocation (/invoke) is refused; the
	// registry's explicit choice lets unauthenticated ones in over HTTP.
	if _, err := a.env.RegistryEvent(context.Background(), []byte(harbor(50))); !errors.As(err, new(suite.Unauthenticated)) {
		t.Errorf("harbor payload on /invoke: %v", err)
	}
	if code, body := a.do(t, "PUT", "/v1/registries/h", `{"id":"h","kind":"harbor","hosts":["`+host+`"],"insecure":true,"auth":{"method":"none"},"webhook":{"allowUnauthenticated":true}}`); code != http.StatusOK {
		t.Fatal(code, body)
	}
	if code, body := post("/v1/events", harbor(60), nil); code != http.StatusAccepted {
		t.Errorf("allowUnauthenticated: %d %s", code, body)
	}
	// The registry's throttle: at one image an hour, the slot the first
	// digest took leaves none for a second one.
	if code, body := a.do(t, "PUT", "/v1/registries/h", `{"id":"h","kind":"harbor","hosts":["`+host+`"],"insecure":true,"imagesPerHour":1,"auth":{"method":"none"},"webhook":{"allowUnauthenticated":true}}`); code != http.StatusOK {
		t.Fatal(code, body)
	}
	other, _ := mutate.AppendLayers(corpusDebian(t), static.NewLayer(tarOf(t, map[string]string{"etc/extra": "x"}), types.OCIUncompressedLayer))
	push(t, other, host+"/team/app:2.0")
	second := strings.ReplaceAll(strings.ReplaceAll(harbor(70), ":1.0", ":2.0"), `"tag":"1.0"`, `"tag":"2.0"`)
	before := scans()
	if code, body := post("/v1/events", second, nil); code != http.StatusAccepted || !strings.Contains(body, "throttled") {
		t.Errorf("over the throttle: %d %s", code, body)
	}
	if scans() != before {
		t.Errorf("a throttled image was scanned")
	}
}
