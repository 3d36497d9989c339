package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Inventory is a list of hosts with labels to select them by, and how to log in to them:
//
//	{"user": "root", "identity": "id_ed25519", "known_hosts": "known_hosts",
//	 "hosts": [{"name": "host-01", "address": "10.200.0.10", "labels": {"role": "web"}}]}
//
// Relative identity and known_hosts paths are relative to the inventory file.
type Inventory struct {
	User                  string          `json:"user,omitempty"`
	Identity              string          `json:"identity,omitempty"`
	KnownHosts            string          `json:"known_hosts,omitempty"`
	InsecureIgnoreHostKey bool            `json:"insecure_ignore_host_key,omitempty"`
	Sudo                  bool            `json:"sudo,omitempty"`
	Hosts                 []InventoryHost `json:"hosts"`
}

// InventoryHost is one host of an inventory.
type InventoryHost struct {
	Name    string            `json:"name"`
	Address string            `json:"address"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// MaxInventory is the size of the largest inventory file read.
const MaxInventory = 16 << 20

// ReadInventory reads and checks the inventory file at path, resolving its relative paths.
func ReadInventory(path string) (Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return Inventory{}, shakedown.Wrap(shakedown.KindInvalid, "read inventory", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxInventory+1))
	if err != nil {
		return Inventory{}, shakedown.Wrap(shakedown.KindInvalid, "read inventory", err)
	}
	inv, err := ParseInventory(b)
	if err != nil {
		return Inventory{}, shakedown.Wrap(shakedown.KindInvalid, "inventory "+path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&inv.Identity, &inv.KnownHosts} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return inv, nil
}

// ParseInventory decodes an inventory strictly (unknown fields and trailing data are
// errors) and checks it: at least one host, each with a unique non-empty name and a valid
// address of its own (one endpoint under two names is an error), labels with non-empty names.
func ParseInventory(data []byte) (Inventory, error) {
	var inv Inventory
	if len(data) > MaxInventory {
		return inv, shakedown.Errorf(shakedown.KindInvalid, "larger than %d bytes", MaxInventory)
	}
	if err := decodeStrict(data, &inv); err != nil {
		return Inventory{}, shakedown.Errorf(shakedown.KindInvalid, "inventory: %w", err)
	}
	if err := inv.check(); err != nil {
		return Inventory{}, err
	}
	return inv, nil
}

func (inv Inventory) check() error {
	if len(inv.Hosts) == 0 {
		return shakedown.Errorf(shakedown.KindInvalid, "no hosts")
	}
	if err := CheckUser(inv.User); err != nil {
		return err
	}
	seen := make(map[string]bool, len(inv.Hosts))
	at := make(map[string]int, len(inv.Hosts)) // the first host at each endpoint
	for i, h := range inv.Hosts {
		switch {
		case h.Name == "":
			return shakedown.Errorf(shakedown.KindInvalid, "host %d has no name", i+1)
		case seen[h.Name]:
			return shakedown.Errorf(shakedown.KindInvalid, "host %q is listed twice", h.Name)
		}
		seen[h.Name] = true
		ep, err := Endpoint(h.Address)
		if err != nil {
			return shakedown.Errorf(shakedown.KindInvalid, "host %q: %w", h.Name, err)
		}
		if j, dup := at[ep]; dup {
			return shakedown.Errorf(shakedown.KindInvalid, "hosts %q (host %d) and %q (host %d) are one host, %s: list it once",
				inv.Hosts[j].Name, j+1, h.Name, i+1, ep)
		}
		at[ep] = i
		for k := range h.Labels {
			if k == "" || strings.TrimSpace(k) != k {
				return shakedown.Errorf(shakedown.KindInvalid, "host %q: label name %q", h.Name, k)
			}
		}
	}
	if inv.KnownHosts == "" && !inv.InsecureIgnoreHostKey {
		return shakedown.Errorf(shakedown.KindInvalid, "no known_hosts (and insecure_ignore_host_key is not set)")
	}
	return nil
}

// Host returns how to reach the named host of the inventory.
func (inv Inventory) Host(name string) (Host, error) {
	for _, h := range inv.Hosts {
		if h.Name == name {
			return inv.host(h), nil
		}
	}
	return Host{}, shakedown.Errorf(shakedown.KindNotFound, "no host %q in the inventory", name)
}

// All returns how to reach every host of the inventory, in its order.
func (inv Inventory) All() []Host {
	hs := make([]Host, len(inv.Hosts))
	for i, h := range inv.Hosts {
		hs[i] = inv.host(h)
	}
	return hs
}

func (inv Inventory) host(h InventoryHost) Host {
	return Host{Address: h.Address, User: inv.User, Identity: inv.Identity, KnownHosts: inv.KnownHosts,
		InsecureIgnoreHostKey: inv.InsecureIgnoreHostKey, Sudo: inv.Sudo}
}

// decodeStrict decodes one JSON value into v: a field v does not have, or anything after the
// value, is an error.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the value")
	}
	return nil
}
