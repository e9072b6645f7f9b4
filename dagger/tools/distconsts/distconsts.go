// Package distconsts stands in for github.com/dagger/dagger/engine/distconsts,
// a nested module of the Dagger repository that was never published to the
// Go module proxy. It holds the same constants: the paths and image names that
// the engine and the CLI read. hubploy's tools module points a replace at it.
package distconsts

// Where the engine runs and how the CLI reaches it.
const (
	EngineContainerName   = "dagger-engine.dev"
	DefaultEngineSockAddr = "unix:///run/dagger/engine.sock"
)

// Paths inside the engine's root filesystem.
const (
	RuncPath       = "/usr/local/bin/runc"
	DaggerInitPath = "/usr/local/bin/dagger-init"

	EngineDefaultStateDir = "/var/lib/dagger"

	// The SDK runtime images the engine loads without pulling: OCI blobs in
	// this folder, the manifest chosen by the digest in the env variable.
	EngineContainerBuiltinContentDir   = "/usr/local/share/dagger/content"
	GoSDKManifestDigestEnvName         = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	PythonSDKManifestDigestEnvName     = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"

	// Extra CA certificates the engine installs into the containers it runs.
	EngineCustomCACertsDir = "/usr/local/share/ca-certificates"
)

// Images the engine uses by name (the terminal's default image) and Dagger's
// own tests use.
const (
	AlpineVersion = "3.22.1"
	AlpineImage   = "alpine:" + AlpineVersion

	GolangVersion = "1.25.3"
	GolangImage   = "golang:" + GolangVersion + "-alpine"

	BusyboxVersion = "1.37.0"
	BusyboxImage   = "busybox:" + BusyboxVersion
)

// OCIVersionAnnotation names the engine image's version annotation.
const OCIVersionAnnotation = "org.opencontainers.image.version"
