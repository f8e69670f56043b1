package probe

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ParseMD5SumsLine parses one line of a dpkg md5sums list
// (/var/lib/dpkg/info/PACKAGE.md5sums): 32 hex digits of MD5, a space,
// a space or '*', and the file's path relative to the root. A line that
// starts with a backslash has its path escaped as md5sum(1) does ("\\"
// for a backslash, "\n" for a newline). The path comes back as written,
// relative, without a leading slash; it is text, never interpreted.
func ParseMD5SumsLine(line string) (sum [md5.Size]byte, path string, err error) {
	line = strings.TrimSuffix(line, "\r")
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	const n = md5.Size * 2
	if len(line) < n+3 {
		return sum, "", fmt.Errorf("md5sums line of %d bytes: too short for a sum and a path", len(line))
	}
	if !isHex(line[:n], n) {
		return sum, "", errors.New("md5sums line does not start with 32 hex digits")
	}
	if line[n] != ' ' || (line[n+1] != ' ' && line[n+1] != '*') {
		return sum, "", errors.New(`md5sums line: want two spaces (or " *") after the sum`)
	}
	if _, err := hex.Decode(sum[:], []byte(line[:n])); err != nil {
		return sum, "", fmt.Errorf("md5sums line: %w", err)
	}
	path = line[n+2:]
	if escaped {
		if path, err = unescapeMD5Path(path); err != nil {
			return sum, "", err
		}
	}
	path = strings.TrimLeft(path, "/")
	if path == "" {
		return sum, "", errors.New("md5sums line names no path")
	}
	if strings.IndexByte(path, 0) >= 0 {
		return sum, "", errors.New("md5sums line: path holds a NUL byte")
	}
	return sum, path, nil
}

// unescapeMD5Path undoes md5sum's escaping of a path.
func unescapeMD5Path(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '\\' {
			b.WriteByte(p[i])
			continue
		}
		if i+1 == len(p) {
			return "", errors.New("md5sums line: path ends in a lone backslash")
		}
		i++
		switch p[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("md5sums line: unknown escape \\%c in the path", p[i])
		}
	}
	return b.String(), nil
}
