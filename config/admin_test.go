package config_test

import (
	"strings"
	"testing"
)

func TestAdminAllow(t *testing.T) {
	t.Parallel()
	if cfg := mustLoad(t, minimal+"admin: {allow: []}\n"); len(cfg.Admin.Allow) != 0 {
		t.Errorf("admin.allow [] = %v, want no network", cfg.Admin.Allow)
	}
	errs := loadErrors(t, minimal+"admin:\n  allow:\n    - 10.0.0.0/8\n    - intranet\n    - 10.0.0.0/33\n")
	if len(errs) != 2 || errs[0].Line != 6 || errs[1].Line != 7 || !strings.Contains(errs[0].Msg, `admin.allow "intranet" is not a network`) {
		t.Errorf("errors = %v, want admin.allow's two bad entries at lines 6 and 7", errs)
	}
}

// TestSecretURLNotInErrors: a source URL's password is not repeated in the
// errors about it, which go to the terminal and the journal.
func TestSecretURLNotInErrors(t *testing.T) {
	t.Parallel()
	errs := loadErrors(t, "sources:\n  - url: https://user:secret@example.com/a\n  - url: https://user:secret@example.com/a\n    name: again\n  - url: \"ftp://user:secret@example.com/b\"\n")
	if len(errs) != 2 {
		t.Fatalf("errors = %v, want 2", errs)
	}
	for _, e := range errs {
		if strings.Contains(e.Error(), "secret") {
			t.Errorf("error %q shows the password", e)
		}
	}
}
