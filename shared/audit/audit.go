// Package audit is the audit log: who changed which setting, registry,
// key or whitelist, or started a fix, when and from where. Each entry is
// its own create-once object (storekey.Audit), so concurrent writers never
// overwrite one another and entries list in time order.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Entry is one audited action.
type Entry struct {
	Time string `json:"time"`
	// Who is the API key's ID and name (or "cli" for the command line).
	Who  string `json:"who"`
	Role string `json:"role,omitempty"`
	// Action such as "registry.create", "key.revoke".
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	// From is the caller's address.
	From string `json:"from,omitempty"`
}

// Record writes an entry; Time is set when empty.
func Record(ctx context.Context, st store.Store, e Entry) error {
	now := time.Now().UTC()
	if e.Time == "" {
		e.Time = now.Format(time.RFC3339)
	}
	var r [6]byte
	rand.Read(r[:])
	_, err := store.PutJSONIfAbsent(ctx, st, storekey.Audit(now, hex.EncodeToString(r[:])), e)
	return err
}

// maxList bounds one listing.
const maxList = 10_000

// List returns the entries at or after since (RFC 3339; empty: all),
// oldest first, at most maxList.
func List(ctx context.Context, st store.Store, since string) ([]Entry, error) {
	keys, err := st.List(ctx, storekey.AuditPrefix)
	if err != nil {
		return nil, err
	}
	var stamp string
	if since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return nil, err
		}
		stamp = storekey.Audit(t, "")
	}
	out := []Entry{}
	for _, k := range keys {
		if stamp != "" && k < strings.TrimSuffix(stamp, "-.json") {
			continue
		}
		if len(out) >= maxList {
			break
		}
		var e Entry
		if err := store.GetJSON(ctx, st, k, &e); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
