"""A fake kube-apiserver for strait's tests. Standard library only; see ../README.md."""
