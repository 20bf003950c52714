// Package doclinks holds no code: its test checks the links of the
// repository's Markdown files. README.md and docs/ link only to files
// inside the repository (someone who clones it finds every page it names);
// every relative link of any Markdown file names a file or folder that
// exists, without leaving the repository.
package doclinks
