from deltaset.cli.main import main

main()
