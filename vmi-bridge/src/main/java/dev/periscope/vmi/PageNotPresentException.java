package dev.periscope.vmi;

/** A guest address has no backing: outside guest RAM, or a virtual address whose page is not mapped. */
public final class PageNotPresentException extends VmiException {
    private final long address;

    public PageNotPresentException(String message, long address) {
        super(message + " (address 0x" + Long.toHexString(address) + ")", null);
        this.address = address;
    }

    public long address() {
        return address;
    }
}
