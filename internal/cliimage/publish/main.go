// Command publish builds the hubploy image of this checkout and pushes it as
// <repository>:<the module's cliVersion>, one image per platform in an index: what a
// release publishes (README, "Releasing"). Registry credentials are the docker
// configuration's (docker login ghcr.io).
//
//	go run ./internal/cliimage/publish [--repository R] [--platform linux/amd64,linux/arm64]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hubploy/hubploy/internal/cliimage"
)

func main() {
	repository := flag.String("repository", cliimage.Repository, "the image's repository")
	platforms := flag.String("platform", "linux/amd64,linux/arm64", "the platforms, comma-separated")
	root := flag.String("root", ".", "the hubploy checkout")
	flag.Parse()
	if err := publish(context.Background(), *root, *repository, strings.Split(*platforms, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func publish(ctx context.Context, root, repository string, platforms []string) error {
	version, err := cliimage.ModuleVersion(root)
	if err != nil {
		return err
	}
	var imgs []cliimage.ForPlatform
	for _, p := range platforms {
		platform, err := v1.ParsePlatform(p)
		if err != nil {
			return err
		}
		began := time.Now()
		img, err := cliimage.Build(ctx, root, version, *platform)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "built %s for %s in %.1fs\n", version, p, time.Since(began).Seconds())
		imgs = append(imgs, cliimage.ForPlatform{Platform: *platform, Image: img})
	}
	ref := repository + ":" + version
	if err := cliimage.Push(ctx, ref, imgs, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return err
	}
	fmt.Println(ref)
	return nil
}
