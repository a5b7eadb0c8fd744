// Package updater publishes what matching reads: new advisory-DB versions
// built from the advisory feeds (or an offline mirror of them), and malware
// signature sets. It is the updater of claircore's indexer ⟂ matcher ⟂
// updater split; scans never import it.
package updater

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/malware"
	"github.com/layerscan/layerscan/shared/store"
)

// Updater publishes into one store.
type Updater struct {
	Store store.Store
	// Progress receives human progress lines; nil discards them.
	Progress io.Writer
	Now      func() time.Time
}

func (u *Updater) now() time.Time {
	if u.Now != nil {
		return u.Now().UTC()
	}
	return time.Now().UTC()
}

func (u *Updater) logf(format string, args ...any) {
	if u.Progress != nil {
		fmt.Fprintf(u.Progress, format+"\n", args...)
	}
}

// PublicOSVEcosystems are fetched from the osv.dev export when no mirror is given.
var PublicOSVEcosystems = []string{"Debian", "Ubuntu", "AlmaLinux", "Rocky Linux", "Alpine", "Go", "npm", "PyPI", "Maven", "RubyGems", "Packagist", "crates.io", "NuGet"}

// OSVExportURL is the osv.dev bulk export; a variable so deployments can point at a mirror.
var OSVExportURL = "https://osv-vulnerabilities.storage.googleapis.com"

// SyncAdvisories builds a new advisory DB version from a mirror folder in
// the osv.dev export layout (from != ""), or from the public feeds, and
// publishes it as current.
func (u *Updater) SyncAdvisories(ctx context.Context, from string) (*advisory.Manifest, error) {
	b := advisory.NewBuilder()
	if from == "" {
		dir, err := os.MkdirTemp("", "layerscan-feeds-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if err := download(ctx, dir, u.Progress); err != nil {
			return nil, err
		}
		from = dir
	}
	if err := b.AddDir(from, u.Progress); err != nil {
		return nil, fmt.Errorf("advisories from %s: %w", from, err)
	}
	m, err := advisory.Publish(ctx, u.Store, b, u.now().Format(time.RFC3339))
	if err != nil {
		return nil, err
	}
	u.logf("advisory DB %s published: %d ecosystems", m.Version, len(m.Ecosystems))
	return m, nil
}

// download fetches the public osv.dev exports into dir/osv/<Ecosystem>/all.zip.
func download(ctx context.Context, dir string, progress io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Minute}
	for _, eco := range PublicOSVEcosystems {
		u := OSVExportURL + "/" + eco + "/all.zip"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("advisory feed %s: %w (use --from DIR with an offline mirror)", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("advisory feed %s: HTTP %d", u, resp.StatusCode)
		}
		p := filepath.Join(dir, "osv", eco, "all.zip")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			resp.Body.Close()
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			resp.Body.Close()
			return err
		}
		n, err := io.Copy(f, resp.Body)
		resp.Body.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("advisory feed %s: %w", u, err)
		}
		if progress != nil {
			fmt.Fprintf(progress, "advisories: fetched %s (%d MB)\n", eco, n>>20)
		}
	}
	return nil
}

// SyncSignatures publishes the built-in malware signatures plus the rule
// files (.yar, .yara) and hash lists (.hdb, .hsb) found in dir (none when
// dir is ""), and makes the set current.
func (u *Updater) SyncSignatures(ctx context.Context, dir string) (*malware.Set, error) {
	src := malware.BuiltinSource()
	if dir != "" {
		files := map[string]string{}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("signatures: %w", err)
		}
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yar", ".yara", ".hdb", ".hsb":
			default:
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("signatures: %w", err)
			}
			files[e.Name()] = string(b)
		}
		if err := src.Add(files); err != nil {
			return nil, err
		}
	}
	set, err := malware.Publish(ctx, u.Store, src)
	if err != nil {
		return nil, err
	}
	u.logf("signatures %s published: %d rules, %d hashes", set.Version, len(set.Rules), len(set.Hashes))
	return set, nil
}
