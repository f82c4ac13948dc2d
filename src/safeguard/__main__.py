"""``python -m safeguard``: the same CLI as the ``safeguard`` command."""

from safeguard.cli.app import main

if __name__ == "__main__":
    main()
