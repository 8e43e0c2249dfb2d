"""Entry point for ``python -m nbserver``."""

from nbserver.app import main

if __name__ == "__main__":
    main()
