package registries

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Secret says where a connection's secret comes from: exactly one of an
// environment variable of the function, a file (a mounted secret), or a
// value encrypted under the key in LAYERSCAN_SECRET_KEY. Value is accepted
// on write only: it is encrypted before the connection is stored, and
// never stored, logged or answered.
type Secret struct {
	Env       string `json:"env,omitempty"`
	File      string `json:"file,omitempty"`
	Encrypted string `json:"encrypted,omitempty"`
	Value     string `json:"value,omitempty"`
}

// SecretKeyEnv names the environment variable holding the key that
// encrypts secret values: 32 bytes, base64 (or any passphrase, hashed).
const SecretKeyEnv = "LAYERSCAN_SECRET_KEY"

const encPrefix = "v1:"

// maxSecretFile bounds what is read of a secret file.
const maxSecretFile = 64 << 10

func (s *Secret) validate(field string) error {
	n := 0
	for _, v := range []string{s.Env, s.File, s.Encrypted, s.Value} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return invalid(field, "name exactly one of env, file, encrypted or value")
	}
	if s.Encrypted != "" && !strings.HasPrefix(s.Encrypted, encPrefix) {
		return invalid(field+".encrypted", "not a value this service encrypted (%s…)", encPrefix)
	}
	if s.File != "" && !strings.HasPrefix(s.File, "/") {
		return invalid(field+".file", "must be an absolute path")
	}
	return nil
}

// Secrets reads secrets: the environment and the encryption key come from
// Getenv (os.Getenv when nil), files from ReadFile.
type Secrets struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

func (r Secrets) getenv(k string) string {
	if r.Getenv != nil {
		return r.Getenv(k)
	}
	return os.Getenv(k)
}

func (r Secrets) key() ([]byte, error) {
	raw := r.getenv(SecretKeyEnv)
	if raw == "" {
		return nil, fmt.Errorf("%s is not set: secret values cannot be encrypted or read; name an env or a file instead", SecretKeyEnv)
	}
	if b, err := base64.StdEncoding.DecodeString(raw); err == nil && len(b) == 32 {
		return b, nil
	}
	sum := sha256.Sum256([]byte(raw))
	return sum[:], nil
}

// Seal replaces a written Value by its encryption.
func (r Secrets) Seal(s *Secret) error {
	if s == nil || s.Value == "" {
		return nil
	}
	key, err := r.key()
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return err
	}
	s.Encrypted = encPrefix + base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(s.Value), nil))
	s.Value = ""
	return nil
}

// Reveal returns the secret's value.
func (r Secrets) Reveal(s *Secret) (string, error) {
	switch {
	case s == nil:
		return "", errors.New("no secret")
	case s.Env != "":
		v := r.getenv(s.Env)
		if v == "" {
			return "", fmt.Errorf("secret: environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		read := r.ReadFile
		if read == nil {
			read = readBounded
		}
		b, err := read(s.File)
		if err != nil {
			return "", fmt.Errorf("secret: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case s.Encrypted != "":
		return r.open(s.Encrypted)
	}
	return "", errors.New("secret: nothing names where it comes from")
}

func (r Secrets) open(enc string) (string, error) {
	key, err := r.key()
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(enc, encPrefix))
	if err != nil {
		return "", fmt.Errorf("secret: encrypted value: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(b) < gcm.NonceSize() {
		return "", errors.New("secret: encrypted value is too short")
	}
	plain, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("secret: cannot decrypt with %s (was it changed?)", SecretKeyEnv)
	}
	return string(plain), nil
}

func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is over %d bytes", p, maxSecretFile)
	}
	return b, nil
}

// Masked is the secret as responses show it: where it comes from, never
// its value (encrypted or not).
func (s *Secret) Masked() *Secret { return s.masked() }

// Check says what is wrong with the secret (field names it in the
// message), or nil: it must name exactly one source.
func (s *Secret) Check(field string) string {
	if err := s.validate(field); err != nil {
		return strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
	}
	return ""
}

// IsMasked reports whether s is a masked secret sent back unchanged.
func (s *Secret) IsMasked() bool { return s != nil && s.Encrypted == "****" }
