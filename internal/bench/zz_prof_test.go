package bench

import "testing"

func TestZZProfile(t *testing.T) {
	r, err := RunProfile(ProfileOptions{Events: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
}
