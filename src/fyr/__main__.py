from fyr.cli import main

main()
