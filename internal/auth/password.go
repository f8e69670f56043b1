// Package auth keeps the accounts that may use Vigil's dashboard and HTTP
// API: a file of users, each with a role (viewer, operator, admin) and a
// password hashed with argon2id, encoded with its parameters and salt.
//
// The file lives in the data directory (UsersFile), is written atomically
// with mode 0600 and is read again when it changes, so that `vigil users`
// takes effect on a running monitor. Passwords are compared in constant
// time, and an unknown user costs the same hashing as a known one.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	// Memory is in KiB.
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen int
	KeyLen  int
}

// DefaultParams are the second recommended option of RFC 9106 (section 4)
// with fewer lanes: 64 MiB, 3 passes, 2 lanes, a 16-byte salt and a
// 32-byte key.
var DefaultParams = Params{Memory: 64 << 10, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// Bounds on the parameters a stored hash may give, so that a damaged or
// hostile file cannot make one login take the machine's memory.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 128
)

// Password length limits, in bytes.
const (
	MinPassword = 10
	MaxPassword = 1024
)

const phcPrefix = "$argon2id$"

// HashPassword hashes pw with a fresh random salt and returns the encoded
// form: $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$KEY (salt and key
// in unpadded standard base64).
func HashPassword(pw []byte, p Params) (string, error) {
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.SaltLen < minSaltLen || p.KeyLen < minKeyLen {
		return "", fmt.Errorf("argon2id parameters %+v: memory, time and threads must be positive, salt at least %d and key at least %d bytes", p, minSaltLen, minKeyLen)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
	return encodeHash(p, salt, key), nil
}

func encodeHash(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", phcPrefix, argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func checkPassword(pw []byte) error {
	switch {
	case len(pw) < MinPassword:
		return fmt.Errorf("password too short: %d bytes, at least %d", len(pw), MinPassword)
	case len(pw) > MaxPassword:
		return fmt.Errorf("password too long: %d bytes, at most %d", len(pw), MaxPassword)
	}
	return nil
}

// Hash is a decoded password hash.
type Hash struct {
	Params Params
	Salt   []byte
	Key    []byte
}

// ParseHash decodes the form HashPassword writes, refusing parameters out
// of bounds.
func ParseHash(s string) (Hash, error) {
	var h Hash
	rest, ok := strings.CutPrefix(s, phcPrefix)
	if !ok {
		return h, errors.New("not an argon2id hash (want $argon2id$v=19$m=...,t=...,p=...$salt$key)")
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 4 {
		return h, fmt.Errorf("argon2id hash has %d fields after the algorithm, want 4 (version, parameters, salt, key)", len(parts))
	}
	if parts[0] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("argon2id version %q unsupported, want v=%d", parts[0], argon2.Version)
	}
	var m, t, p uint64
	seen := 0
	for _, kv := range strings.Split(parts[1], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return h, fmt.Errorf("argon2id parameter %q: want name=number", kv)
		}
		switch k {
		case "m":
			m, seen = n, seen|1
		case "t":
			t, seen = n, seen|2
		case "p":
			p, seen = n, seen|4
		default:
			return h, fmt.Errorf("argon2id parameter %q unknown (want m, t and p)", k)
		}
	}
	if seen != 7 {
		return h, fmt.Errorf("argon2id parameters %q: want m, t and p", parts[1])
	}
	if m < 8*p || m > maxMemory || t < 1 || t > maxTime || p < 1 || p > 255 {
		return h, fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d out of bounds (m from 8p to %d KiB, t 1 to %d, p 1 to 255)", m, t, p, maxMemory, maxTime)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[2])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return h, fmt.Errorf("argon2id salt: want %d to %d bytes of unpadded base64", minSaltLen, maxSaltLen)
	}
	key, err := b64.DecodeString(parts[3])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return h, fmt.Errorf("argon2id key: want %d to %d bytes of unpadded base64", minKeyLen, maxKeyLen)
	}
	h.Params = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: len(salt), KeyLen: len(key)}
	h.Salt, h.Key = salt, key
	return h, nil
}

// Verify reports whether pw hashes to h's key, comparing in constant
// time.
func (h Hash) Verify(pw []byte) bool {
	if len(pw) > MaxPassword {
		return false
	}
	key := argon2.IDKey(pw, h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(key, h.Key) == 1
}
