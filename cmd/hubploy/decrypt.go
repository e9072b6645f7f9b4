package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func newDecryptCmd(g *globals) *cobra.Command {
	var allowCI bool
	cmd := &cobra.Command{
		Use:   "decrypt FILE",
		Short: "Print a sops-encrypted file's cleartext to stdout, for people",
		Long: `Decrypt FILE in memory and print it to stdout; nothing is written to disk. Because
the output is secret, decrypt refuses to run when CI is set (where output goes to logs)
unless --allow-in-ci is given.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Getenv("CI") != "" && !allowCI {
				return usageError{fmt.Errorf("decrypt prints secrets, and CI is set: CI logs would keep them (pass --allow-in-ci if this output goes nowhere it should not)")}
			}
			dec, err := g.decrypter()
			if err != nil {
				return err
			}
			data, _, err := dec.ReadFile(args[0], args[0])
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(data)
			return err
		},
	}
	cmd.Flags().BoolVar(&allowCI, "allow-in-ci", false, "decrypt even when CI is set")
	return cmd
}
