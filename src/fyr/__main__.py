from fyr.entry import main

main()
