package aptrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/layerscan/layerscan/shared/deb"
)

func sign(t *testing.T, e *openpgp.Entity, text string) []byte {
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, text)
	w.Close()
	return b.Bytes()
}

func TestRelease(t *testing.T) {
	key, _ := openpgp.NewEntity("archive", "", "a@example.test", nil)
	other, _ := openpgp.NewEntity("someone else", "", "b@example.test", nil)
	index := []byte("Package: a\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nVersion: 2\nArchitecture: all\n")
	sum := sha256.Sum256(index)
	now := time.Now().UTC().Truncate(time.Second).Add(time.Minute) // after the keys were made
	release := func(suite string, validUntil time.Time, hash string) string {
		return fmt.Sprintf("Suite: %s\nCodename: %s\nDate: %s\nValid-Until: %s\nSHA256:\n %s %d main/binary-amd64/Packages\n",
			suite, suite, now.Add(-time.Hour).Format(time.RFC1123), validUntil.Format(time.RFC1123), hash, len(index))
	}
	good := release("stable", now.Add(24*time.Hour), hex.EncodeToString(sum[:]))
	files := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	files["/dists/stable/main/binary-amd64/Packages"] = index
	// srv's client dials srv only: nothing else is reachable from the test
	c := &Client{HTTP: srv.Client(), Keyring: openpgp.EntityList{key}, Now: func() time.Time { return now }}
	for _, tc := range []struct {
		name    string
		inRel   []byte
		wantErr string
	}{
		{"good", sign(t, key, good), ""},
		{"signed by another key", sign(t, other, good), "signature"},
		{"expired (a replay)", sign(t, key, release("stable", now.Add(-time.Minute), hex.EncodeToString(sum[:]))), "expired"},
		{"another suite's file", sign(t, key, release("testing", now.Add(time.Hour), hex.EncodeToString(sum[:]))), "signed for suite"},
		{"unsigned text around it", append([]byte("Suite: stable\n"), sign(t, key, good)...), "not a clear-signed"},
		{"trailing data", append(sign(t, key, good), []byte("SHA256:\n evil 1 x\n")...), "trailing"},
		{"index hash mismatch", sign(t, key, release("stable", now.Add(time.Hour), strings.Repeat("0", 64))), "SHA256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files["/dists/stable/InRelease"] = tc.inRel
			r, err := c.Release(context.Background(), Suite{URL: srv.URL, Name: "stable"})
			var cands []Candidate
			if err == nil {
				cands, err = c.Packages(context.Background(), r, "amd64", func(n string) bool { return true })
			}
			switch {
			case tc.wantErr == "" && (err != nil || len(cands) != 2):
				t.Errorf("%v %v", err, cands)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrUnverified)):
				t.Errorf("got %v, want an unverified error about %q", err, tc.wantErr)
			}
		})
	}
}

func TestMirrorValidate(t *testing.T) {
	ok := Suite{URL: "http://deb.example.test/debian", Name: "{codename}-security"}
	for _, tc := range []struct {
		m  Mirror
		ok bool
	}{
		{Mirror{Suites: []Suite{ok}, Keyring: "/usr/share/keyrings/debian-archive-keyring.gpg"}, true},
		{Mirror{Suites: []Suite{ok}, Keyring: "/etc/shadow"}, false},
		{Mirror{Suites: []Suite{ok}, Keyring: "/usr/share/keyrings/../../../etc/shadow"}, false},
		{Mirror{Suites: []Suite{ok}}, false},
		{Mirror{Suites: []Suite{{URL: "file:///etc", Name: "x"}}, Keyring: "/usr/share/keyrings/k.gpg"}, false},
		{Mirror{Suites: []Suite{{URL: "http://h/debian", Name: "../../x"}}, Keyring: "/usr/share/keyrings/k.gpg"}, false},
		{Mirror{Suites: []Suite{ok}, KeyringArmored: "not a key"}, false},
	} {
		if err := tc.m.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.m, err)
		}
	}
}

// FuzzWantedParagraphs: an index (verified, but parsed before anything is
// kept) never panics the filter, and every paragraph kept is wanted.
func FuzzWantedParagraphs(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nDescription: x\n more\n\nPackage: b\nVersion: 2\n"))
	f.Add([]byte("Package: a\n" + strings.Repeat("x", 70000) + "\n\nPackage: b\nVersion: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		wantedParagraphs(bytes.NewReader(b), func(n string) bool { return n == "a" }, func(p deb.Paragraph) {
			if p.Get("Package") != "a" {
				t.Fatalf("kept %q", p.Get("Package"))
			}
		})
	})
}
