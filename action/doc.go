// Package action holds the tests of shakedown's CI integrations: action.yml at the
// repository's root (the GitHub Action), templates/shakedown.yml (the GitLab CI/CD
// component) and the shell they share, install.sh and run.sh in this folder. The tests run
// the action's steps and the component's script as a runner would, with real experiments,
// and lint every workflow file of the repository with actionlint.
package action
