package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

// fuzzToken is the token in the seed requests: no refusal may quote it.
const fuzzToken = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"

func csrPEM(t testing.TB, cn string) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// tampered changes a byte of a CSR's signed part, keeping it parsable.
func tampered(csr string) string {
	blk, _ := pem.Decode([]byte(csr))
	der := append([]byte(nil), blk.Bytes...)
	i := strings.Index(string(der), "host-7")
	der[i+5] = '8'
	return string(pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: der}))
}

func TestDecodeEnrollRequestIsStrict(t *testing.T) {
	tok := fuzzToken[:tokenLen]
	csr := csrPEM(t, "host-7")
	good, _ := json.Marshal(EnrollRequest{Token: tok, CSR: csr})
	req, parsed, err := DecodeEnrollRequest(good)
	if err != nil || req.Token != tok || parsed.Subject.CommonName != "host-7" {
		t.Fatalf("a well-formed request: %+v, %v", req, err)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for name, in := range map[string]string{
		"unknown member": `{"token":` + q(tok) + `,"csr":` + q(csr) + `,"role":"monitor"}`,
		"member twice":   `{"token":` + q(tok) + `,"token":` + q(tok) + `,"csr":` + q(csr) + `}`,
		"trailing data":  string(good) + `{}`,
		"no csr":         `{"token":` + q(tok) + `}`,
		"array":          `[` + string(good) + `]`,
		"number token":   `{"token":1,"csr":` + q(csr) + `}`,
		"short token":    `{"token":"abc","csr":` + q(csr) + `}`,
		"not PEM":        `{"token":` + q(tok) + `,"csr":"hello"}`,
		"bad CN":         `{"token":` + q(tok) + `,"csr":` + q(csrPEM(t, "../etc")) + `}`,
		"two PEM blocks": `{"token":` + q(tok) + `,"csr":` + q(csr+csr) + `}`,
		"tampered CSR":   `{"token":` + q(tok) + `,"csr":` + q(tampered(csr)) + `}`,
		"oversized":      `{"token":` + q(tok) + `,"csr":` + q(csr+strings.Repeat(" ", MaxEnrollRequest)) + `}`,
		"empty":          ``,
		"unclosed":       `{"token":` + q(tok),
	} {
		if _, _, err := DecodeEnrollRequest([]byte(in)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		} else if strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the refusal quotes the token: %v", name, err)
		}
	}
}

func FuzzDecodeEnrollRequest(f *testing.F) {
	tok := fuzzToken[:tokenLen]
	csr := csrPEM(f, "host-7")
	good, _ := json.Marshal(EnrollRequest{Token: tok, CSR: csr})
	f.Add(good)
	f.Add([]byte(`{"token":"` + tok + `","csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}`))
	f.Add([]byte(`{"token":"` + tok + `","csr":"x","csr":"y"}`))
	f.Add([]byte(`{"token":"` + tok + `"} trailing`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, csr, err := DecodeEnrollRequest(b)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("a refusal that is not ErrBadRequest: %v", err)
			}
			if strings.Contains(err.Error(), tok) {
				t.Fatalf("the refusal quotes the token: %v", err)
			}
			return
		}
		if !validTokenText(req.Token) || csr == nil || ValidateName(csr.Subject.CommonName) != nil || csr.CheckSignature() != nil {
			t.Fatalf("accepted a request that is not valid: %+v", req)
		}
		// What was accepted decodes the same once encoded again.
		again, _ := json.Marshal(req)
		req2, _, err := DecodeEnrollRequest(again)
		if err != nil || req2 != req {
			t.Fatalf("an accepted request re-encoded: %v", err)
		}
	})
}
