from internpipe.cli.app import main

main()
