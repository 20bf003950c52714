// Command gen rebuilds the console's counter.wasm, copies the toolchain's
// wasm_exec.js beside it and writes the stamp. Run from the console
// directory (go generate ./console does).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/switchboard-sms/switchboard/console/internal/wasmbuild"
)

func main() {
	dir, err := os.Getwd()
	if err == nil {
		err = wasmbuild.Generate(context.Background(), dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
