package ossstore

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/layerscan/layerscan/shared/store/storetest"
)

// ossRecorder answers the OSS API subset the store uses, path-style, from
// memory, and records what the SDK sends: no OSS-protocol server can run
// here, so the test checks the requests themselves (forbid-overwrite on
// create-once, the STS token on every request, the versioning check).
type ossRecorder struct {
	mu         sync.Mutex
	bucket     string
	versioning string
	objects    map[string][]byte
	requests   []string
	tokens     map[string]bool
	badAuth    int
}

func (o *ossRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" forbid="+r.Header.Get("X-Oss-Forbid-Overwrite"))
	o.tokens[r.Header.Get("X-Oss-Security-Token")] = true
	if !strings.HasPrefix(r.Header.Get("Authorization"), "OSS ") {
		o.badAuth++
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if bucket != o.bucket {
		ossErr(w, 404, "NoSuchBucket")
		return
	}
	q := r.URL.Query()
	switch {
	case key == "" && q.Has("versioning"):
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration>%s</VersioningConfiguration>`, map[bool]string{true: "<Status>" + o.versioning + "</Status>", false: ""}[o.versioning != ""])
	case key == "" && q.Get("list-type") == "2":
		o.list(w, q)
	case r.Method == http.MethodPut:
		if r.Header.Get("X-Oss-Forbid-Overwrite") == "true" {
			if _, ok := o.objects[key]; ok {
				ossErr(w, 409, "FileAlreadyExists")
				return
			}
		}
		b, _ := io.ReadAll(r.Body)
		o.objects[key] = b
		w.Header().Set("ETag", `"x"`)
	case r.Method == http.MethodGet, r.Method == http.MethodHead:
		b, ok := o.objects[key]
		if !ok {
			ossErr(w, 404, "NoSuchKey")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	case r.Method == http.MethodDelete:
		delete(o.objects, key)
		w.WriteHeader(204)
	default:
		ossErr(w, 400, "Unsupported")
	}
}

func (o *ossRecorder) list(w http.ResponseWriter, q url.Values) {
	var keys []string
	for k := range o.objects {
		if strings.HasPrefix(k, q.Get("prefix")) && k > q.Get("continuation-token") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	// Pages of 2 so that paging is exercised.
	type content struct{ Key string }
	res := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		IsTruncated           bool
		NextContinuationToken string
		EncodingType          string `xml:"EncodingType"`
		Contents              []content
	}{EncodingType: "url"}
	for i, k := range keys {
		if i == 2 {
			res.IsTruncated, res.NextContinuationToken = true, keys[1]
			break
		}
		res.Contents = append(res.Contents, content{url.QueryEscape(k)})
	}
	xml.NewEncoder(w).Encode(res)
}

func ossErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>r</RequestId><HostId>h</HostId></Error>`, code, code)
}

func TestOSSAgainstRecorder(t *testing.T) {
	rec := &ossRecorder{bucket: "layerscan-store", objects: map[string][]byte{}, tokens: map[string]bool{}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	creds := &Credentials{}
	s, err := New("layerscan-store", "prefix", Options{Endpoint: srv.URL, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	// FC hands over the role's credentials with the first request.
	creds.Set("STS.id", "secret", "token-1")
	storetest.Contract(t, s)
	creds.Set("STS.id2", "secret2", "token-2")
	if _, err := s.Get(t.Context(), "scans/x/claim"); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.badAuth > 0 || !rec.tokens["token-1"] || !rec.tokens["token-2"] {
		t.Errorf("auth: %d unsigned requests; tokens seen %v", rec.badAuth, rec.tokens)
	}
	var forbid, versioning, keysUnderPrefix int
	for _, r := range rec.requests {
		if strings.HasPrefix(r, "PUT /layerscan-store/prefix/scans/x/claim?") && strings.HasSuffix(r, "forbid=true") {
			forbid++
		}
		if strings.Contains(r, "?versioning") {
			versioning++
		}
	}
	for k := range rec.objects {
		if strings.HasPrefix(k, "prefix/") {
			keysUnderPrefix++
		}
	}
	if forbid != 16 || versioning != 1 || keysUnderPrefix != len(rec.objects) {
		t.Errorf("forbid-overwrite PUTs %d (want 16), versioning checks %d (want 1), keys outside the prefix %d", forbid, versioning, len(rec.objects)-keysUnderPrefix)
	}
}

func TestOSSRefusesVersionedBucket(t *testing.T) {
	for _, status := range []string{"Enabled", "Suspended"} {
		rec := &ossRecorder{bucket: "b-versioned", versioning: status, objects: map[string][]byte{}, tokens: map[string]bool{}}
		srv := httptest.NewServer(rec)
		creds := &Credentials{}
		creds.Set("id", "secret", "")
		if _, err := New("b-versioned", "", Options{Endpoint: srv.URL, Credentials: creds}); err == nil || !strings.Contains(err.Error(), "versioning "+status) {
			t.Errorf("%s: %v", status, err)
		}
		// Without credentials at start (FC), the first write refuses.
		s, err := New("b-versioned", "", Options{Endpoint: srv.URL, Credentials: &Credentials{}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutIfAbsent(t.Context(), "scans/x/claim", nil); err == nil {
			t.Errorf("%s: a create-once write went to a versioned bucket", status)
		}
		srv.Close()
	}
}

func TestOSSStoreKey(t *testing.T) {
	s := &OSS{name: "bkt", prefix: "layerscan/"}
	for _, c := range []struct {
		bucket, key, want string
		ok                bool
	}{
		{"bkt", "layerscan/queue/scan-image/a.json", "queue/scan-image/a.json", true},
		{"other", "layerscan/queue/scan-image/a.json", "", false},
		{"bkt", "elsewhere/queue/scan-image/a.json", "", false},
		{"bkt", "layerscan/../x", "", false},
	} {
		if k, ok := s.StoreKey(c.bucket, c.key); k != c.want || ok != c.ok {
			t.Errorf("%s/%s: %q %v", c.bucket, c.key, k, ok)
		}
	}
}
