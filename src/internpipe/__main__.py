from internpipe.entry import main

main()
