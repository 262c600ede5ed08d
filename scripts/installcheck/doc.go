// Package installcheck holds tests only. They keep the install staging
// script and the operator documentation honest:
//
//   - TestInstallStaging runs scripts/install-staging.sh with STAGE in a
//     temporary directory (no root needed) and compares the staged tree,
//     modes and symlink targets with the layout table of docs/install.md,
//     both ways: every row marked staged exists as described, and nothing
//     is staged that the table does not list. It also checks that the
//     script refuses an empty STAGE and the root directory.
//   - TestDocLinks checks that every relative Markdown link in docs/*.md
//     and README.md points at an existing file and, for a link into a
//     Markdown file with a #fragment, at an existing heading.
//   - TestInstallCommands runs every lightmetrics / lm-collector /
//     lm-agent command line shown in a shell code block of docs/install.md
//     through the real command-line parser (pkg/command) with stub roles,
//     so a misspelt subcommand or flag, or a wrong argument count, fails;
//     and it requires the page to show every action in both spellings.
package installcheck
