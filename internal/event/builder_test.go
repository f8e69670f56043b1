package event

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// build writes ev with a Builder, attribute by attribute, appending to
// dst.
func build(b *Builder, dst []byte, ev *Event) ([]byte, error) {
	b.Begin(ev.ID, ev.Time, ev.Type, ev.Host, ev.IP, ev.Source)
	writeAttrs(&b.Attrs, ev.Attrs)
	return b.End(dst)
}

func writeAttrs(a *Attrs, attrs map[string]any) {
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			a.Str(k, v)
		case int64:
			a.Int(k, v)
		case float64:
			a.Float(k, v)
		case bool:
			a.Bool(k, v)
		case []string:
			a.List(k, v)
		default:
			panic("no Builder method for a " + strconv.Quote(FormatValue(v)))
		}
	}
}

// An event written with a Builder decodes to the same event as its map
// form; an invalid one is refused with Validate's error. One Builder
// writes them all: nothing carries over from one event to the next.
func TestBuilderWritesWhatValidateTakes(t *testing.T) {
	var b Builder
	checkCompactWriter(t, func(dst []byte, ev *Event) ([]byte, error) { return build(&b, dst, ev) },
		invalidEdit{"not a number", func(e *Event) { e.Attrs["cpu_pct"] = math.NaN() }})
}

// Attributes written once (a process's context) and appended to several
// events are in each, beside the event's own.
func TestBuilderAppendsWrittenAttrs(t *testing.T) {
	var ctx Attrs
	ctx.Int("pid", 4242)
	ctx.Str("name", "sh")
	ctx.List("ancestors", []string{"bash", "sshd", "systemd"})
	shared := ctx.Clone()
	ctx.Reset() // the clone is its own
	var b Builder
	var out []byte
	for i, exe := range []string{"/usr/bin/sh", "/usr/bin/id"} {
		b.Begin("id-"+strconv.Itoa(i), time.Unix(1700000000, 0), "PROC.EXEC", "web-1", "", "agent")
		b.Append(&shared)
		b.Str("exe", exe)
		var err error
		if out, err = b.End(out[:0]); err != nil {
			t.Fatal(err)
		}
		ev, err := DecodeCompact(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Attrs) != 4 || ev.Attrs["pid"] != int64(4242) || ev.Attrs["name"] != "sh" || ev.Attrs["exe"] != exe ||
			!slices.Equal(ev.Attrs["ancestors"].([]string), []string{"bash", "sshd", "systemd"}) {
			t.Errorf("event %d: %v", i, ev.Attrs)
		}
	}
}

// What a map cannot hold, a Builder refuses at the end: a name written
// twice, too many attributes, a form over MaxEventBytes. A problem in
// appended attributes is the event's.
func TestBuilderRefusesWhatNoDecoderTakes(t *testing.T) {
	start := func(b *Builder) { b.Begin("x1", time.Unix(1, 0), "PROC.EXEC", "h", "", "agent") }
	cases := []struct {
		name  string
		write func(b *Builder)
		want  string
	}{
		{"a name twice", func(b *Builder) { b.Int("pid", 1); b.Str("exe", "/bin/sh"); b.Int("pid", 2) }, `"attrs.pid": appears twice`},
		{"a name twice, once appended", func(b *Builder) {
			var ctx Attrs
			ctx.Str("exe", "/bin/sh")
			b.Append(&ctx)
			b.Str("exe", "/bin/id")
		}, `"attrs.exe": appears twice`},
		{"too many attributes", func(b *Builder) {
			for i := range MaxAttrs + 1 {
				b.Int("a"+strconv.Itoa(i), int64(i))
			}
		}, "more than the limit of 256"},
		{"too large", func(b *Builder) { b.Str("blob", strings.Repeat("x", MaxEventBytes)) }, "over the limit"},
		{"a problem appended", func(b *Builder) {
			var ctx Attrs
			ctx.Str("cwd", "/tmp/\xff")
			b.Append(&ctx)
		}, `"attrs.cwd": invalid UTF-8`},
	}
	var b Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start(&b)
			tc.write(&b)
			got, err := b.End([]byte("kept"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if string(got) != "kept" {
				t.Errorf("the buffer is %q, want it as it was", got)
			}
		})
	}
	// Over the limit, the error says so as the decoders do.
	start(&b)
	b.Str("blob", strings.Repeat("x", MaxEventBytes))
	if _, err := b.End(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a form over the limit: %v, want ErrTooLarge", err)
	}
}

// An event of more than 127 attributes (a count of two bytes) decodes.
func TestBuilderCountsManyAttributes(t *testing.T) {
	var b Builder
	b.Begin("x1", time.Unix(1, 0), "PROC.EXEC", "h", "", "agent")
	for i := range MaxAttrs {
		b.Int("a"+strconv.Itoa(i), int64(i))
	}
	rec, err := b.End(nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := DecodeCompact(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Attrs) != MaxAttrs || ev.Attrs["a200"] != int64(200) {
		t.Errorf("%d attributes decoded, a200 = %v", len(ev.Attrs), ev.Attrs["a200"])
	}
}
