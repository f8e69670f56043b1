package wiremsg

import (
	"strings"
	"testing"
)

type msg struct {
	ID   string `json:"id"`
	Size int    `json:"size"`
}

// TestDecodeIsStrict: exactly one object of known fields within the bound;
// every other input is refused with what is wrong.
func TestDecodeIsStrict(t *testing.T) {
	var m msg
	if err := Decode([]byte(`{"id":"a","size":3}`), 64, &m); err != nil || m.ID != "a" || m.Size != 3 {
		t.Fatalf("a good message: %+v %v", m, err)
	}
	for in, want := range map[string]string{
		`{"id":"a","sise":3}`:   `unknown field "sise"`,
		`{"id":"a"} {}`:         "data after the message",
		`{"id":"a","size":"3"}`: `field "size"`,
		``:                      "empty message",
		`{"id":"a"`:             "ends inside a value",
		`{"id":` + strings.Repeat(" ", 80) + `"a"}`: "at most 64",
		`nope`: "not JSON",
	} {
		if err := Decode([]byte(in), 64, &msg{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", in, err, want)
		}
	}
}

// TestText refuses missing, long and control-holding names.
func TestText(t *testing.T) {
	if err := Text("name", "web-1/apache2 ü", 64, true); err != nil {
		t.Errorf("a plain name: %v", err)
	}
	for v, want := range map[string]string{"": "missing", strings.Repeat("x", 65): "longer than 64", "a\nb": "control", "a\u0085b": "control", "a\u2028b": "control", "a\xffb": "invalid UTF-8"} {
		if err := Text("name", v, 64, true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", v, err, want)
		}
	}
	if err := Text("name", "", 64, false); err != nil {
		t.Errorf("an optional empty name: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"a","size":3}`))
	f.Add([]byte(`{"id":"a"} x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m msg
		if err := Decode(data, 1<<10, &m); err == nil {
			if len(data) > 1<<10 {
				t.Fatalf("accepted %d bytes", len(data))
			}
			var again msg
			if err := Decode(Encode(m), 1<<20, &again); err != nil || again != m {
				t.Fatalf("%+v does not read back: %v", m, err)
			}
		}
	})
}
