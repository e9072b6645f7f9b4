package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"dagger/hubploy/internal/dagger"
)

// cliPath is where the hubploy image has the CLI.
const cliPath = "/usr/local/bin/hubploy"

// goImage builds hubploy from source: the Go of go.mod's go line.
const goImage = "golang:1.26-bookworm"

// image is the hubploy image the functions run in: hubployImage, or this module's
// release; hubploy built from source when it cannot be pulled. ref names it in errors.
func (m *Hubploy) image(ctx context.Context) (ctr *dagger.Container, ref string, err error) {
	ref = cmp.Or(m.Image, cliRepository+":"+cliVersion)
	ctr = dag.Container().From(ref)
	_, err = ctr.Sync(ctx)
	if err == nil {
		return ctr, ref, nil
	}
	if m.Source == nil {
		return nil, ref, fmt.Errorf("cannot pull the hubploy image %s: %w", ref, err)
	}
	pull, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(os.Stderr, "hubploy: cannot pull %s (%s): building hubploy from source\n", ref, pull)
	ctr = fromSource(m.Source)
	if _, err := ctr.Sync(ctx); err != nil {
		// Not wrapped: the SDK would report a wrapped exec error as that alone.
		detail := err.Error()
		var exec *dagger.ExecError
		if errors.As(err, &exec) {
			detail = lastLines(exec.Stderr, 5)
		}
		return nil, ref, fmt.Errorf("cannot pull the hubploy image %s (%s), and building hubploy from source failed: %s", ref, pull, detail)
	}
	return ctr, "built from source", nil
}

// fromSource is the image a release publishes, with hubploy built from src.
func fromSource(src *dagger.Directory) *dagger.Container {
	builder := dag.Container().From(goImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("hubploy-go-mod")).
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("hubploy-go-build")).
		WithEnvVariable("CGO_ENABLED", "0").
		WithMountedDirectory("/src", src).WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-o", "/out/hubploy",
			"-ldflags", "-s -w -X github.com/hubploy/hubploy/pipeline/action.version=" + cliVersion + "+source",
			"./cmd/hubploy"})
	return dag.Container().
		WithFile(cliPath, builder.File("/out/hubploy")).
		WithFile("/etc/ssl/certs/ca-certificates.crt", builder.File("/etc/ssl/certs/ca-certificates.crt"))
}
