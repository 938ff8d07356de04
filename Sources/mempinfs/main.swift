import MempinFS
print("mempinfs")
