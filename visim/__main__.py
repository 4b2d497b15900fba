from visim.cli.entry import main

main()
