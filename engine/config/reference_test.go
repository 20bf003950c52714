package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/engine/config"
)

// yamlKeys returns the dotted path of every leaf key of t's YAML form
// (carriers[].tls.ca_file; sections such as carriers[].tls are not listed).
func yamlKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			prefix += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		if sub := yamlKeys(t.Field(i).Type, path); len(sub) > 0 {
			out = append(out, sub...)
		} else {
			out = append(out, path)
		}
	}
	return out
}

// TestReferenceDocumentsEveryKey: the configuration reference
// (docs/operations.md, and docs/carriers.md for the carriers' keys) names
// every key the configuration has, so that a key added to the code is added
// to the docs too.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	ops, err1 := os.ReadFile("../../docs/operations.md")
	car, err2 := os.ReadFile("../../docs/carriers.md")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	keys := yamlKeys(reflect.TypeFor[config.Config](), "")
	if len(keys) < 40 {
		t.Fatalf("found %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		leaf := k[strings.LastIndexByte(k, '.')+1:]
		switch {
		case strings.HasPrefix(k, "carriers[]."):
			// carriers.md names them as in the YAML example or a table.
			if !strings.Contains(string(car), "`"+leaf) && !strings.Contains(string(car), leaf+":") {
				t.Errorf("docs/carriers.md does not name carriers[].%s", k[len("carriers[]."):])
			}
		case strings.HasPrefix(k, "rate_classes[]."):
			if !strings.Contains(string(ops), "`"+leaf+"`") {
				t.Errorf("docs/operations.md does not name %s", k)
			}
		default:
			if !strings.Contains(string(ops), "`"+strings.TrimSuffix(k, "[]")+"`") && !strings.Contains(string(ops), "`"+k+"`") {
				t.Errorf("docs/operations.md does not name %s", k)
			}
		}
	}
}
