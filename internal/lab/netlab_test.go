package lab

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// A lab killed before it could clean up leaves its namespaces; the next
// lab in a process with the same pid (mod 10,000) takes the next free
// names instead of failing on them, and its subnets follow its number.
func TestNewLabSkipsNamesLeftBehind(t *testing.T) {
	testutil.RequireNetns(t)
	id := os.Getpid() % 10000
	for _, n := range []int{id, (id + 1) % 10000} {
		name := fmt.Sprintf("vq%d-gw", n)
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", name, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	}
	// A name that only starts with the same digits is no clash.
	longer := fmt.Sprintf("vq%d7-gw", (id+2)%10000)
	if out, err := exec.Command("ip", "netns", "add", longer).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", longer, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", longer).Run() })

	l := newLab(Options{}, "vq")
	want := (id + 2) % 10000
	if l.id != want || l.tag != fmt.Sprintf("vq%d", want) {
		t.Fatalf("newLab took %q (id %d); want vq%d, the first number with no names", l.tag, l.id, want)
	}
	if err := l.addNamespaces("gw"); err != nil {
		t.Fatal(err)
	}
	l.cleanup()
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), l.tag+"-") {
		t.Errorf("cleanup left %s-*: %s", l.tag, out)
	}
}

func TestNamesTakenNeedsALetterAfterTheTag(t *testing.T) {
	// /sys/class/net always has lo; no tag is a prefix of it but "l".
	if namesTaken("vq99999") {
		t.Error("an unused tag is taken")
	}
	if !namesTaken("l") {
		t.Error(`"l" followed by "o" (the loopback link) is not seen as taken`)
	}
}
