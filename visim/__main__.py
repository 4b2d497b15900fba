from visim.cli.app import main

main()
